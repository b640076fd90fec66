"""Register an update for a task's open round: pre-checks, upload, on-chain registration (no torch needed).

Checks that would make a submission revert (not on the allowlist, no open round, already submitted) run before
anything else, so a participant never burns compute or an upload on an update the contract will refuse. They read
the contract's ``participantView``: one call instead of five round trips.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from fedledger import codec
from fedledger.clock import describe
from fedledger.exceptions import ChainError
from fedledger.history import task_history
from fedledger.ledger import Ledger, Signer
from fedledger.records import ParticipantView, TaskState, TxResult
from fedledger.store import ContentStore


@dataclass(frozen=True)
class Submission:
    """A registered update: where it is stored, what it hashes to, and the transaction that registered it."""

    task_id: int
    round: int
    participant: str
    cid: str
    digest: bytes
    num_samples: int
    tx: TxResult  # the registration: submitUpdate, or revealUpdate on a commit-reveal task
    commit_tx: TxResult | None = None  # commitUpdate on a commit-reveal task


def check_can_submit(ledger: Ledger, task_id: int, account: str, num_samples: int | None = None) -> TaskState:
    """Return the task state, or raise ChainError saying why this account cannot submit right now.

    Besides what the contract would refuse (not a participant, no open round, deadline passed, already submitted,
    more samples than the cap), it refuses a participant the round did not sample: its update would be excluded
    as ``not_sampled``.
    """
    return check_participant(ledger, task_id, account, num_samples).task


def check_participant(
    ledger: Ledger, task_id: int, account: str, num_samples: int | None = None
) -> ParticipantView:
    """``check_can_submit``, returning the whole ``participantView`` (task, sample cap, block time) it read."""
    view = ledger.participant_view(task_id, account)  # one call: task, membership, submitted, cap, block time
    task = view.task
    if not view.is_participant:
        raise ChainError(f"{account} is not a participant of task {task_id}; ask the task owner to add it")
    if not task.round_open:
        raise ChainError(f"task {task_id} has no open round; the owner opens the first one with `task open`")
    if ledger.next_block_time(view.timestamp) >= task.deadline:
        raise ChainError(
            f"round {task.round} of task {task_id} closed at its deadline, {describe(task.deadline)}; "
            "wait for the aggregator to open the next round"
        )
    if view.has_submitted:
        raise ChainError(f"{account} already submitted in round {task.round} of task {task_id}")
    if num_samples is not None and view.sample_cap and num_samples > view.sample_cap:
        raise ChainError(
            f"{account} may claim at most {view.sample_cap} samples per submission to task {task_id}, "
            f"not {num_samples}"
        )
    if task.limits.clients_per_round:
        record = task_history(ledger, task_id).rounds[-1]
        if record.sampled is not None and Web3.to_checksum_address(account) not in record.sampled:
            raise ChainError(
                f"round {task.round} of task {task_id} did not sample {account} (it asks {len(record.sampled)} of "
                f"{len(record.members)} participants); wait for the next round"
            )
    return view


def submit_bytes(
    ledger: Ledger, store: ContentStore, signer: Signer, task: TaskState, data: bytes, num_samples: int
) -> Submission:
    """Upload canonical update bytes and register their digest and CID for the task's open round."""
    codec.decode(data)  # refuse to publish anything that is not a canonical model
    digest = codec.model_digest(data)
    cid = store.put(data)
    tx = ledger.submit_update(signer, task.task_id, task.round, digest, cid, num_samples)
    return Submission(task.task_id, task.round, signer.address, cid, digest, num_samples, tx)
