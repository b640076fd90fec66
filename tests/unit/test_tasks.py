"""launch_task: the one way a task is created, configured, given participants and opened."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fedledger import codec
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect
from fedledger.records import TaskLimits
from fedledger.store import LocalStore
from fedledger.tasks import Committee, launch_task


def chain(tmp_path: Path) -> tuple[Ledger, Signer, list[str], LocalStore, bytes]:
    w3 = connect(EMBEDDED)
    owner = Signer(w3.eth.accounts[0])
    ledger, _ = Ledger.deploy(w3, owner)
    initial = codec.encode({"w": np.arange(4, dtype=np.float32)})
    return ledger, owner, list(map(str, w3.eth.accounts[1:4])), LocalStore(tmp_path), initial


def test_launch_task_stores_the_model_adds_capped_participants_sets_the_committee_and_opens_round_1(
    tmp_path: Path,
) -> None:
    # Prepare
    ledger, owner, people, store, initial = chain(tmp_path)

    # Execute
    created = launch_task(
        ledger, owner, store, initial, participants=people, max_samples=[5, 0, 7], quorum=2,
        round_duration=600, strategy="fedavg", limits=TaskLimits(grace_period=600),
        committee=Committee(people[:2], 2),
    )  # fmt: skip

    # Assert
    task = ledger.get_task(created.task_id)
    assert (task.round, task.round_open, task.participant_count) == (1, True, 3)
    assert task.model_digest == codec.model_digest(initial) and task.model_cid == created.initial_cid
    assert store.get(created.initial_cid) == initial
    assert task.aggregator.lower() == people[0].lower()  # a committee task records its first member
    members, threshold, _ = ledger.committee(created.task_id)
    assert ([m.lower() for m in members], threshold) == ([p.lower() for p in people[:2]], 2)
    assert [ledger.sample_cap(created.task_id, p) for p in people] == [5, 0, 7]
    assert created.create_tx.gas_used > 0


def test_launch_task_without_opening_leaves_no_round_open(tmp_path: Path) -> None:
    # Prepare
    ledger, owner, people, store, initial = chain(tmp_path)

    # Execute
    created = launch_task(
        ledger, owner, store, initial, participants=people, quorum=1, round_duration=600, strategy="fedavg",
        open_round=False,
    )  # fmt: skip

    # Assert: created with its participants, owner aggregates, nothing open yet
    task = ledger.get_task(created.task_id)
    assert (task.round, task.round_open, task.participant_count) == (0, False, 3)
    assert task.aggregator.lower() == owner.address.lower()
