"""Commit and reveal (issue 18 §2): a submission belongs to its author, through the public CLI and raw transactions.

Alice (dev account 1) is honest, Bob (2) too, Mallory (3) copies. On a plain task Mallory's one transaction that
re-registers Alice's digest knocks both out as ``duplicate`` (the documented baseline). On a commit-reveal task she
cannot: before the reveal window no digest is public, and once one is no commitment is accepted, so a copied
digest (from the chain or from a pending transaction) opens no commitment of hers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from aggregator.coordinator import Coordinator
from fedledger import codec
from fedledger.audit import unopened_commitments, verify_task
from fedledger.cid import compute_cid
from fedledger.cli.app import app
from fedledger.commit_reveal import commitment, new_salt
from fedledger.embedded_chain import advance_time, mine, set_automine
from fedledger.exceptions import ContractRevertError
from fedledger.flower.bridge import EmbeddedChainServer
from fedledger.history import task_history
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect
from fedledger.records import ParticipantChanged, TaskCommitRevealConfigured, TaskCreated
from fedledger.store import LocalStore
from fl_node import commit_reveal as participant_side
from fl_node.commit_reveal import commit_and_reveal

SHAPES = {"layer.bias": (3,), "layer.weight": (3, 2)}
DURATION, REVEAL = 3600, 900
BOGUS_CID = compute_cid(b"nothing Mallory ever trained")


def update(value: float) -> bytes:
    return codec.encode({name: np.full(shape, value, np.float32) for name, shape in SHAPES.items()})


@dataclass
class Chain:
    url: str
    ledger: Ledger
    tmp: Path

    @property
    def store(self) -> LocalStore:
        return LocalStore(self.tmp / "store")

    def person(self, n: int) -> Signer:
        return Signer(self.ledger.w3.eth.accounts[n])

    def run(self, *words: str) -> Any:
        endpoints = ["--rpc-url", self.url, "--contract", self.ledger.address]
        if words[:2] != ("task", "show"):
            endpoints += ["--ipfs-api", f"local:{self.tmp}/store"]
        return CliRunner().invoke(app, [*words, *endpoints])

    def run_json(self, *words: str) -> dict[str, Any]:
        done = self.run(*words, "--json")
        assert done.exit_code == 0, done.output
        return dict(json.loads(done.stdout))

    def create(self, *extra: str) -> int:
        initial = self.tmp / "initial.safetensors"
        initial.write_bytes(update(0.0))
        created = self.run_json(
            "task", "create", "--participants", "1,2,3", "--quorum", "1", "--max-samples", "1000",
            "--round-duration", str(DURATION), "--model-file", str(initial), *extra,
        )  # fmt: skip
        return int(created["task_id"])

    def submit_file(self, task: int, who: int, value: float) -> dict[str, Any]:
        path = self.tmp / f"update-{who}.safetensors"
        path.write_bytes(update(value))
        return self.run_json(
            "node", "submit", str(path), "--task", str(task), "--samples", "10", "--account", str(who)
        )

    def travel(self, seconds: int) -> None:
        advance_time(self.ledger.w3, self.ledger.block_timestamp() + seconds)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    w3 = connect(EMBEDDED)
    ledger, _ = Ledger.deploy(w3, Signer(w3.eth.accounts[0]))
    with EmbeddedChainServer(w3) as server:
        yield Chain(server.url, ledger, tmp_path)


def refusal(call: Any) -> str:
    with pytest.raises(ContractRevertError) as refused:
        call()
    return refused.value.error_name


# ------------------------------------------------------------------------------------------- the task


def test_task_create_configures_commit_reveal_before_participants_and_show_reports_the_windows(
    chain: Chain,
) -> None:
    # Execute
    task = chain.create("--commit-reveal", str(REVEAL))
    shown = chain.run_json("task", "show", "--task", str(task))

    # Assert: configured right after createTask (the contract takes it only before round 1), and shown
    kinds = [type(e) for e in chain.ledger.task_events(task)]
    assert (
        kinds.index(TaskCreated) < kinds.index(TaskCommitRevealConfigured) < kinds.index(ParticipantChanged)
    )
    assert shown["commit_reveal"]["reveal_period"] == REVEAL
    assert shown["commit_reveal"]["window"] == "commit"
    assert (shown["commit_reveal"]["commits"], shown["commit_reveal"]["expected"]) == (0, 3)
    assert shown["commit_reveal"]["reveal_end"] == shown["deadline"] + REVEAL


def test_plain_task_show_has_no_commit_reveal_and_privacy_refuses_it(chain: Chain) -> None:
    plain = chain.create()
    initial = chain.tmp / "initial.safetensors"

    refused = chain.run(
        "task", "create", "--participants", "1,2,3", "--max-samples", "100", "--model-file", str(initial),
        "--privacy", "secagg", "--commit-reveal", "60",
    )  # fmt: skip

    assert chain.run_json("task", "show", "--task", str(plain))["commit_reveal"] is None
    assert refused.exit_code != 0 and "--commit-reveal and --privacy" in refused.output
    assert chain.ledger.task_count() == 1  # nothing was sent


# ------------------------------------------------------------------------------------------- (a) the baseline


def test_plain_task_a_copied_digest_knocks_out_both_as_duplicate(chain: Chain) -> None:
    # Prepare: Alice submits through the CLI; Mallory re-registers only her digest, bogus CID, 1 sample
    task = chain.create()
    alice = chain.submit_file(task, 1, 1.0)
    chain.ledger.submit_update(chain.person(3), task, 1, bytes.fromhex(alice["digest"][2:]), BOGUS_CID, 1)
    chain.travel(DURATION + 1)

    # Execute
    closed = chain.run_json("aggregate", "--task", str(task))

    # Assert: the contract cannot tell who copied whom (what commit and reveal is for)
    assert closed["failed"] and closed["included"] == []
    assert sorted((e["participant"], e["reason"]) for e in closed["excluded"]) == sorted(
        [(chain.person(1).address, "duplicate"), (chain.person(3).address, "duplicate")]
    )


# ------------------------------------------------------------------------------------------- (b) no copy


def test_commit_reveal_mallory_cannot_copy_the_revealed_digest(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: while Alice's `node submit` waits for the reveal window, nothing of her update is public
    task = chain.create("--commit-reveal", str(REVEAL))
    alice_cid = compute_cid(update(1.0))
    seen_while_waiting: list[tuple[bool, int]] = []

    def wait(seconds: float) -> None:
        seen_while_waiting.append((chain.store.has(alice_cid), len(chain.ledger.updates_submitted(task))))
        chain.travel(600)

    monkeypatch.setattr(participant_side, "pause", wait)

    # Execute: Alice commits, waits (the clock moves), uploads and reveals; then Mallory tries to copy her
    alice = chain.submit_file(task, 1, 1.0)
    digest, mallory, salt = bytes.fromhex(alice["digest"][2:]), chain.person(3), new_salt()
    late_commit = refusal(
        lambda: chain.ledger.commit_update(mallory, task, 1, commitment(digest, mallory.address, salt))
    )
    bare_reveal = refusal(lambda: chain.ledger.reveal_update(mallory, task, 1, digest, BOGUS_CID, 1, salt))
    closed = chain.run_json("aggregate", "--task", str(task))
    audit = chain.run_json("audit", "verify", "--task", str(task))

    # Assert
    assert seen_while_waiting and all(s == (False, 0) for s in seen_while_waiting)
    assert alice["cid"] == alice_cid and alice["commit_gas"] > 0 and alice["commit_tx"] != alice["tx"]
    assert (late_commit, bare_reveal) == ("FederatedRoundsNotCommitting", "FederatedRoundsBadReveal")
    assert closed["included"] == [chain.person(1).address] and closed["excluded"] == []
    assert audit["ok"] and audit["status"] == "ok"


# ------------------------------------------------------------------------------------------- (c) front-running


def test_commit_reveal_front_running_a_pending_reveal_is_refused(chain: Chain) -> None:
    # Prepare: everyone committed (so the round reveals at once); Mallory's commitment is to her own bytes
    task = chain.create("--commit-reveal", str(REVEAL))
    ledger, w3 = chain.ledger, chain.ledger.w3
    alice, bob, mallory = chain.person(1), chain.person(2), chain.person(3)
    data = {alice.address: update(1.0), bob.address: update(2.0), mallory.address: update(9.0)}
    salts = {who: new_salt() for who in data}
    for who in (alice, bob, mallory):
        ledger.commit_update(
            who, task, 1, commitment(codec.model_digest(data[who.address]), who.address, salts[who.address])
        )
    alice_cid = chain.store.put(data[alice.address])

    # Execute: Alice's reveal waits in the mempool; Mallory reads it and sends the same reveal from her account
    set_automine(w3, False)
    alice_args = (task, 1, codec.model_digest(data[alice.address]), alice_cid, 10, salts[alice.address])
    pending = ledger.contract.functions.revealUpdate(*alice_args).transact(
        {"from": alice.address, "gas": 500_000}
    )
    _, copied = ledger.contract.decode_function_input(w3.eth.get_transaction(pending)["input"])
    front = ledger.contract.functions.revealUpdate(
        copied["taskId"], copied["round"], copied["digest"], copied["cid"], 1, copied["salt"]
    ).transact({"from": mallory.address, "gas": 500_000})
    mine(w3)
    set_automine(w3, True)
    why = refusal(
        lambda: ledger.reveal_update(mallory, task, 1, copied["digest"], copied["cid"], 1, copied["salt"])
    )
    bob_digest = codec.model_digest(data[bob.address])
    ledger.reveal_update(bob, task, 1, bob_digest, chain.store.put(data[bob.address]), 10, salts[bob.address])

    # Assert: Alice's reveal stands, Mallory's copy is refused
    assert w3.eth.get_transaction_receipt(front)["status"] == 0
    assert w3.eth.get_transaction_receipt(pending)["status"] == 1
    assert why == "FederatedRoundsBadReveal"
    assert [u.participant for u in ledger.updates_submitted(task, 1)] == [alice.address, bob.address]


# ------------------------------------------------------------------------------------------- (d) no reveal


def test_commit_reveal_a_committer_that_never_reveals_is_absent(chain: Chain, tmp_path: Path) -> None:
    # Prepare: Bob commits and goes away; Alice commits and reveals through the participant API
    task = chain.create("--commit-reveal", str(REVEAL))
    ledger, bob = chain.ledger, chain.person(2)
    ledger.commit_update(bob, task, 1, commitment(codec.model_digest(update(2.0)), bob.address, new_salt()))
    opening = tmp_path / "alice.reveal.json"
    submitted = commit_and_reveal(
        ledger, chain.store, chain.person(1), ledger.get_task(task), update(1.0), 10,
        salt_file=opening, sleep=lambda seconds: chain.travel(900),
    )  # fmt: skip
    coordinator = Coordinator(ledger, chain.store, Signer(ledger.w3.eth.accounts[0]))

    # Execute
    waiting = coordinator.readiness(ledger.get_task(task))
    chain.travel(REVEAL + 1)
    ready = coordinator.readiness(ledger.get_task(task))
    closed = chain.run_json("aggregate", "--task", str(task))

    # Assert: the round waits for Bob's reveal until the window ends, then closes without him
    kept = json.loads(opening.read_text())
    assert kept["salt"] != "" and kept["digest"] == codec.digest_hex(submitted.digest)
    assert commitment(submitted.digest, chain.person(1).address, bytes.fromhex(kept["salt"][2:])) == (
        task_history(ledger, task).rounds[0].commits[1].commitment
    )
    assert waiting is not None and "2 of 3 participants committed, 1 revealed" in waiting
    assert ready is None
    assert closed["included"] == [chain.person(1).address] and closed["excluded"] == []
    assert [v.verdict for v in verify_task(task_history(ledger, task), chain.store)] == ["OK", "OPEN"]


# ------------------------------------------------------------------------------------------- the audit


def test_audit_mismatch_when_a_revealed_salt_does_not_open_the_commitment(chain: Chain) -> None:
    # Prepare: Alice commits and reveals honestly, the round closes; then the recorded salt is swapped
    task = chain.create("--commit-reveal", str(REVEAL))
    ledger, alice, salt = chain.ledger, chain.person(1), new_salt()
    data = update(1.0)
    ledger.commit_update(alice, task, 1, commitment(codec.model_digest(data), alice.address, salt))
    chain.travel(DURATION + 1)
    ledger.reveal_update(alice, task, 1, codec.model_digest(data), chain.store.put(data), 10, salt)
    chain.run_json("aggregate", "--task", str(task))
    history = task_history(ledger, task)
    record = history.rounds[0]
    forged = replace(record, reveals=[replace(record.reveals[0], salt=new_salt())])
    history.rounds[0] = forged

    # Execute
    honest = unopened_commitments(task_history(ledger, task), task_history(ledger, task).rounds[0])
    verdicts = verify_task(history, chain.store)

    # Assert
    assert honest == ""
    assert verdicts[0].verdict == "MISMATCH"
    assert f"submission 0 ({alice.address})" in verdicts[0].reason


# ------------------------------------------------------------------------------------------- gas


def test_an_honest_commit_and_reveal_costs_about_one_extra_transaction(chain: Chain, capsys: Any) -> None:
    # Prepare: the same update registered on a plain task and on a commit-reveal task
    plain, private = chain.create(), chain.create("--commit-reveal", str(REVEAL))
    ledger, alice, data = chain.ledger, chain.person(1), update(1.0)
    digest, cid, salt = codec.model_digest(data), chain.store.put(data), new_salt()

    # Execute
    submitted = ledger.submit_update(alice, plain, 1, digest, cid, 10)
    committed = ledger.commit_update(alice, private, 1, commitment(digest, alice.address, salt))
    chain.travel(DURATION + 1)
    revealed = ledger.reveal_update(alice, private, 1, digest, cid, 10, salt)

    # Assert: the extra cost is the commit transaction; the reveal costs what a submission costs plus less than a
    # transaction's base fee (21,000: the salt in calldata and its event, one keccak, one storage read)
    with capsys.disabled():
        print(f"\nsubmitUpdate {submitted.gas_used}; commitUpdate {committed.gas_used} + revealUpdate "
              f"{revealed.gas_used} = {committed.gas_used + revealed.gas_used}")  # fmt: skip
    assert revealed.gas_used - submitted.gas_used < 21_000


def test_a_round_nobody_revealed_in_waits_for_the_reveal_window_before_it_fails(chain: Chain) -> None:
    # Prepare: nobody commits; the deadline passes (the contract fails such a round only from deadline + reveal)
    task = chain.create("--commit-reveal", str(REVEAL))
    coordinator = Coordinator(chain.ledger, chain.store, Signer(chain.ledger.w3.eth.accounts[0]))
    chain.travel(DURATION + 1)

    # Execute
    at_deadline = coordinator.readiness(chain.ledger.get_task(task))
    chain.travel(REVEAL)
    closed = chain.run_json("aggregate", "--task", str(task))

    # Assert
    assert at_deadline is not None and "0 of 3 participants committed" in at_deadline
    assert closed["failed"] and chain.ledger.get_task(task).round == 2


def test_node_train_commits_before_it_uploads_and_keeps_the_opening_next_to_out(chain: Chain) -> None:
    # Prepare: a one-participant digits task (its commit alone opens the reveal window)
    created = chain.run_json(
        "task", "create", "--participants", "1", "--quorum", "1", "--max-samples", "1000", "--dataset", "digits",
        "--commit-reveal", str(REVEAL),
    )  # fmt: skip
    task, out = int(created["task_id"]), chain.tmp / "update.safetensors"

    # Execute
    trained = chain.run_json(
        "node", "train", "--task", str(task), "--account", "1", "--dataset", "digits", "--epochs", "1",
        "--out", str(out),
    )  # fmt: skip

    # Assert: one commitment, opened by the kept salt; the revealed digest is the kept file's
    opening = json.loads((chain.tmp / "update.safetensors.reveal.json").read_text())
    (committed,) = task_history(chain.ledger, task).rounds[0].commits
    salt = bytes.fromhex(opening["salt"][2:])
    assert created["commit_reveal"] == {"reveal_period": REVEAL}
    assert trained["digest"] == opening["digest"] == codec.digest_hex(codec.model_digest(out.read_bytes()))
    assert committed.commitment == commitment(
        codec.model_digest(out.read_bytes()), chain.person(1).address, salt
    )
    assert trained["commit_tx"] == committed.at.tx_hash and trained["commit_gas"] > 0
    assert [u.participant for u in chain.ledger.updates_submitted(task, 1)] == [chain.person(1).address]
