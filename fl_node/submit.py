"""Register an update for a task's open round: pre-checks, upload, on-chain registration (no torch needed).

Checks that would make a submission revert (not on the allowlist, no open round, already submitted) run before
anything else, so a participant never burns compute or an upload on an update the contract will refuse.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from fedledger import codec
from fedledger.clock import describe
from fedledger.exceptions import ChainError
from fedledger.history import task_history
from fedledger.ledger import Ledger, Signer
from fedledger.records import TaskState, TxResult
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
    tx: TxResult


def check_can_submit(ledger: Ledger, task_id: int, account: str, num_samples: int | None = None) -> TaskState:
    """Return the task state, or raise ChainError saying why this account cannot submit right now.

    Besides what the contract would refuse (not a participant, no open round, deadline passed, already submitted,
    more samples than the cap), it refuses a participant the round did not sample: its update would be excluded
    as ``not_sampled``.
    """
    task = ledger.get_task(task_id)
    if not ledger.is_participant(task_id, account):
        raise ChainError(f"{account} is not a participant of task {task_id}; ask the task owner to add it")
    if not task.round_open:
        raise ChainError(f"task {task_id} has no open round; the owner opens the first one with `task open`")
    if ledger.next_block_time() >= task.deadline:
        raise ChainError(
            f"round {task.round} of task {task_id} closed at its deadline, {describe(task.deadline)}; "
            "wait for the aggregator to open the next round"
        )
    if ledger.has_submitted(task_id, task.round, account):
        raise ChainError(f"{account} already submitted in round {task.round} of task {task_id}")
    if num_samples is not None:
        cap = ledger.sample_cap(task_id, account)
        if cap and num_samples > cap:
            raise ChainError(
                f"{account} may claim at most {cap} samples per submission to task {task_id}, not {num_samples}"
            )
    if task.limits.clients_per_round:
        record = task_history(ledger, task_id).rounds[-1]
        if record.sampled is not None and Web3.to_checksum_address(account) not in record.sampled:
            raise ChainError(
                f"round {task.round} of task {task_id} did not sample {account} (it asks {len(record.sampled)} of "
                f"{len(record.members)} participants); wait for the next round"
            )
    return task


def submit_bytes(
    ledger: Ledger, store: ContentStore, signer: Signer, task: TaskState, data: bytes, num_samples: int
) -> Submission:
    """Upload canonical update bytes and register their digest and CID for the task's open round."""
    codec.decode(data)  # refuse to publish anything that is not a canonical model
    digest = codec.model_digest(data)
    cid = store.put(data)
    tx = ledger.submit_update(signer, task.task_id, task.round, digest, cid, num_samples)
    return Submission(task.task_id, task.round, signer.address, cid, digest, num_samples, tx)
