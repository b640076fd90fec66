"""The participant's side of a private round (fl_node.private_round), several participants at once against one
embedded chain served over JSON-RPC, each with its own connection like separate machines; then the aggregator
and the audit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from aggregator.coordinator import Coordinator
from fedledger import codec
from fedledger.audit import verify_task
from fedledger.cli.app import app
from fedledger.exceptions import SubmissionRefusedError
from fedledger.flower.bridge import EmbeddedChainServer
from fedledger.history import task_history
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect
from fedledger.privacy.accounting import PrivateTask
from fedledger.privacy.spec import parse_privacy_canonical
from fedledger.records import TaskLimits
from fedledger.store import LocalStore
from fedledger.tasks import launch_task
from fl_node.data import DatasetSplit, load_dataset, partition
from fl_node.model import initial_model
from fl_node.private_round import PrivateSubmission, private_task_of, run_private_round
from fl_node.train import TrainConfig

PARTICIPANTS = 3


@dataclass
class Net:
    w3_url: str
    ledger: Ledger
    owner: Signer
    people: list[Signer]
    store_dir: Path
    task: int
    split: DatasetSplit

    def run_all(self, drop_after: str | None = None) -> list[PrivateSubmission | BaseException]:
        results: list[PrivateSubmission | BaseException] = [RuntimeError("not run")] * PARTICIPANTS

        def one(k: int) -> None:
            ledger = Ledger(connect(self.w3_url), self.ledger.address)
            try:
                private = private_task_of(ledger, self.task)
                assert private is not None
                results[k] = run_private_round(
                    ledger, LocalStore(self.store_dir), self.people[k], self.task, private, self.split,
                    partition(self.split, PARTICIPANTS, k, seed=0), TrainConfig(epochs=1, seed=0), poll=0.05,
                    drop_after=drop_after,
                )  # fmt: skip
            except BaseException as exc:
                results[k] = exc

        threads = [threading.Thread(target=one, args=(k,)) for k in range(PARTICIPANTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        return results


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    w3 = connect(EMBEDDED)
    owner = Signer(w3.eth.accounts[0])
    people = [Signer(a) for a in w3.eth.accounts[1 : 1 + PARTICIPANTS]]
    ledger, _ = Ledger.deploy(w3, owner)
    split = load_dataset("digits", seed=0)
    initial = codec.encode(initial_model(split, seed=0))
    store = LocalStore(tmp_path / "store")
    private = PrivateTask(parse_privacy_canonical("secagg:clip=1.0,scale_bits=16"), 2, 0, 100, 100, 100, 1000)
    task = launch_task(
        ledger, owner, store, initial, participants=[p.address for p in people], quorum=2, round_duration=600,
        strategy="fedavg", limits=TaskLimits(max_samples=1000, grace_period=600), privacy=private,
    ).task_id  # fmt: skip
    with EmbeddedChainServer(w3) as server:
        yield Net(server.url, ledger, owner, people, tmp_path / "store", task, split)


def test_three_participants_take_a_private_round_and_the_audit_re_derives_it(net: Net) -> None:
    results = net.run_all()
    assert all(isinstance(r, PrivateSubmission) for r in results), results
    done = [r for r in results if isinstance(r, PrivateSubmission)]
    assert {r.survivors for r in done} == {PARTICIPANTS} and {r.dropped for r in done} == {0}
    assert all(set(r.gas) == {"keys", "shares", "upload", "unmask"} for r in done)
    outcome = Coordinator(net.ledger, LocalStore(net.store_dir), net.owner).close_round(net.task)
    assert not outcome.failed and len(outcome.included) == PARTICIPANTS
    verdicts = verify_task(task_history(net.ledger, net.task), LocalStore(net.store_dir))
    assert [v.verdict for v in verdicts if v.verdict != "OPEN"] == ["OK"]


def test_a_participant_joins_only_in_the_keys_phase(net: Net) -> None:
    results = net.run_all(drop_after="keys")  # everyone advertised: the keys phase is over at once
    assert all(isinstance(r, PrivateSubmission) and r.stopped_after == "keys" for r in results), results
    private = private_task_of(net.ledger, net.task)
    assert private is not None
    with pytest.raises(SubmissionRefusedError, match="is in its shares phase"):
        run_private_round(
            net.ledger, LocalStore(net.store_dir), net.people[0], net.task, private, net.split,
            partition(net.split, PARTICIPANTS, 0, seed=0), TrainConfig(epochs=1, seed=0),
        )  # fmt: skip


def test_node_submit_refuses_a_private_task(net: Net, tmp_path: Path) -> None:
    update = tmp_path / "update.safetensors"
    base = codec.decode(LocalStore(net.store_dir).get(net.ledger.get_task(net.task).model_cid))
    update.write_bytes(codec.encode({k: v + np.float32(0.1) for k, v in base.items()}))
    result = CliRunner().invoke(
        app,
        ["node", "submit", str(update), "--task", str(net.task), "--samples", "10", "--account", "1"]
        + ["--rpc-url", net.w3_url, "--contract", net.ledger.address, "--ipfs-api", f"local:{net.store_dir}"],
    )
    assert result.exit_code == 1, result.output
    assert "runs private rounds" in result.output
