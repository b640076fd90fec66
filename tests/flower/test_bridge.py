"""The loopback bridge that serves the embedded chain to a simulation's client processes: signed transactions,
gas estimates, and the contract's own errors on the far side."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest

from fedledger import codec
from fedledger.exceptions import ContractRevertError
from fedledger.flower.bridge import EmbeddedChainServer
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect
from fedledger.records import TaskLimits
from fedledger.store import LocalStore
from fedledger.tasks import launch_task

KEY = "0x" + "00" * 31 + "02"  # the embedded chain's second dev account


def test_clients_sign_and_register_through_the_bridge_and_see_reverts() -> None:
    # Prepare: an embedded chain with a task whose participant is the key's account, served over loopback
    w3 = connect(EMBEDDED)
    owner = Signer(w3.eth.accounts[0])
    participant = Signer.from_key(KEY)
    store = LocalStore(tempfile.mkdtemp(prefix="fedledger-bridge-"))
    ledger, _ = Ledger.deploy(w3, owner)
    initial = codec.encode({"w": np.zeros(4, np.float32)})
    task = launch_task(
        ledger, owner, store, initial, participants=[participant.address], quorum=1, round_duration=3600,
        strategy="fedavg", limits=TaskLimits(),
    ).task_id  # fmt: skip
    update = codec.encode({"w": np.ones(4, np.float32)})
    with EmbeddedChainServer(w3) as bridge:
        remote = Ledger(connect(bridge.url), ledger.address, from_block=ledger.from_block)
        # Execute: a signed submission, then the same again
        tx = remote.submit_update(participant, task, 1, codec.model_digest(update), store.put(update), 10)
        with pytest.raises(ContractRevertError) as again:
            remote.submit_update(participant, task, 1, codec.model_digest(update), store.put(update), 10)
    # Assert: the estimate covered the gas really used, the revert is the contract's
    sent = w3.eth.get_transaction(tx.tx_hash)  # type: ignore[arg-type]
    assert tx.gas_used < sent["gas"] < 2 * tx.gas_used + 50_000 and 20_000 < tx.gas_used < 200_000
    assert ledger.get_task(task).submissions == 1
    assert "already submitted" in str(again.value) and "AlreadySubmitted" in str(again.value)
