"""Contracts that can evolve: a Ledger reads every round-contract version registered by its runtime-code hash
(``fedledger/artifacts/history.json``), and names the code hash of a contract it does not know."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from fedledger import artifact as art
from fedledger import ledger as ledger_module
from fedledger.exceptions import ChainError
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect

CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
# Init code that deploys the one-byte runtime code 0xfe: PUSH1 0xfe PUSH1 0 MSTORE8 PUSH1 1 PUSH1 0 RETURN
FOREIGN_INIT = "0x60fe60005360016000f3"


@pytest.fixture
def chain() -> tuple[Web3, Signer]:
    w3 = connect(EMBEDDED)
    return w3, Signer(w3.eth.accounts[0])


def _newer_release(monkeypatch: pytest.MonkeyPatch, history: dict[str, Any]) -> None:
    """Pretend this client is a later release: today's artifact has other code and an ABI that reads nothing."""
    newer = {**art.load_artifact(), "abi": [], "deployedBytecode": "0x6000"}
    monkeypatch.setattr(art, "load_artifact", lambda: newer)
    monkeypatch.setattr(ledger_module, "load_artifact", lambda: newer)
    monkeypatch.setattr(art, "load_history", lambda: history)


def test_todays_artifact_is_registered_by_its_runtime_code_hash() -> None:
    # Prepare
    current = art.load_artifact()
    key = art.code_hash(bytes.fromhex(current["deployedBytecode"].removeprefix("0x")))

    # Execute
    history = art.load_history()

    # Assert: `make compile` registered it, so the next release still reads contracts deployed from it
    assert history[key]["abi"] == current["abi"]
    assert history[key]["sourceSha256"] == current["sourceSha256"]


def test_ledger_reads_a_contract_deployed_from_an_older_registered_artifact(
    chain: tuple[Web3, Signer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: a contract deployed by today's release; then a later release whose history holds today's version
    w3, owner = chain
    deployed, _ = Ledger.deploy(w3, owner)
    key, entry = art.history_entry(art.load_artifact())
    _newer_release(monkeypatch, {key: entry})

    # Execute
    ledger = Ledger(w3, deployed.address)
    task_id, _ = ledger.create_task(
        owner, aggregator=owner.address, initial_digest=b"\x01" * 32, initial_cid=CID, quorum=1,
        round_duration=60, strategy="fedavg",
    )  # fmt: skip

    # Assert: the older version's ABI was used (the newer one reads nothing)
    assert ledger.get_task(task_id).strategy == "fedavg"
    assert [e.task_id for e in ledger.tasks_created()] == [task_id]


def test_ledger_names_the_code_hash_of_a_version_it_no_longer_knows(
    chain: tuple[Web3, Signer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: today's contract, opened by a later release whose history dropped it
    w3, owner = chain
    deployed, _ = Ledger.deploy(w3, owner)
    code = bytes(w3.eth.get_code(deployed.address))
    _newer_release(monkeypatch, {})

    # Execute / Assert
    with pytest.raises(ChainError, match=f"runtime code hash {art.code_hash(code)} is none of the 1 known"):
        Ledger(w3, deployed.address)


def test_ledger_names_the_code_hash_of_a_foreign_contract(chain: tuple[Web3, Signer]) -> None:
    # Prepare: a contract that is no fedledger round contract at all
    w3, owner = chain
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": owner.address, "data": FOREIGN_INIT})
    )
    address = receipt["contractAddress"]
    assert bytes(w3.eth.get_code(address)) == b"\xfe"

    # Execute / Assert
    foreign = art.code_hash(b"\xfe")
    with pytest.raises(
        ChainError, match=f"round contract this client reads: its runtime code hash {foreign}"
    ) as caught:
        Ledger(w3, address)
    assert "\n" not in str(caught.value)


def test_a_client_on_the_version_before_the_batch_and_the_view_still_works(
    chain: tuple[Web3, Signer],
) -> None:
    # Prepare: today's contract seen through the previous version's ABI (registered in the history), which has
    # neither participantView nor addParticipants: the calls a client of today makes must fall back
    w3, owner = chain
    deployed, _ = Ledger.deploy(w3, owner)
    older = [
        entry["abi"]
        for entry in art.load_history().values()
        if not any(e.get("name") == "participantView" for e in entry["abi"])
    ]
    assert older, "the history should still hold the version from before participantView"
    ledger = Ledger(w3, deployed.address)
    ledger.contract = w3.eth.contract(address=ledger.address, abi=older[0])
    task_id, _ = ledger.create_task(
        owner, aggregator=owner.address, initial_digest=b"\x01" * 32, initial_cid=CID, quorum=1,
        round_duration=600, strategy="fedavg", limits=ledger_module.rec.TaskLimits(grace_period=600),
    )  # fmt: skip
    people = w3.eth.accounts[1:4]

    # Execute
    ledger.add_participants(owner, task_id, people, max_samples=[0, 5, 0])
    view = ledger.participant_view(task_id, people[1])

    # Assert
    assert not ledger.offers("participantView") and not ledger.offers("addParticipants")
    assert [c.participant for c in ledger.participant_changes(task_id)] == people
    assert view.is_participant and view.sample_cap == 5 and not view.has_submitted


def test_the_readme_table_names_every_registered_contract_version() -> None:
    # Prepare: the code hashes the client reads, and the README's table of versions
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("Which client versions audit which contract versions:")[1].split("\n\n")[1]
    # Execute / Assert: one row per registered version, each naming it by the start of its code hash
    rows = [line for line in table.splitlines() if line.startswith("| `0x")]
    assert len(rows) == len(art.known_versions())
    for code in art.known_versions():
        assert any(row.startswith(f"| `{code[:14]}") for row in rows), code
