"""The participant's side of a round: fetch the current global model, train on local data, upload, register.

Checks that would make a submission revert (not on the allowlist, no open round, already submitted) run before
training, so a participant never burns minutes of compute on an update the contract will refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fedledger import codec
from fedledger.exceptions import ChainError, ConfigurationError
from fedledger.fetch import fetch_model
from fedledger.ledger import Ledger, Signer
from fedledger.records import TaskState, TxResult
from fedledger.store import ContentStore
from fl_node.data import DatasetSplit
from fl_node.model import model_config_for
from fl_node.train import TrainConfig, compute_gradient, train_local


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


def sends_gradients(strategy: str) -> bool:
    """FedSGD tasks take gradients; every other strategy takes locally trained weights."""
    return strategy.split(":", 1)[0] == "fedsgd"


def check_can_submit(ledger: Ledger, task_id: int, account: str) -> TaskState:
    """Return the task state, or raise ChainError saying why this account cannot submit right now."""
    task = ledger.get_task(task_id)
    if not ledger.is_participant(task_id, account):
        raise ChainError(f"{account} is not a participant of task {task_id}; ask the task owner to add it")
    if not task.round_open:
        raise ChainError(f"task {task_id} has no open round; the owner opens the first one with `task open`")
    if ledger.next_block_time() >= task.deadline:
        raise ChainError(
            f"round {task.round} of task {task_id} closed at its deadline ({task.deadline}); "
            "wait for the aggregator to open the next round"
        )
    if ledger.has_submitted(task_id, task.round, account):
        raise ChainError(f"{account} already submitted in round {task.round} of task {task_id}")
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


def train_and_submit(
    ledger: Ledger,
    store: ContentStore,
    signer: Signer,
    task_id: int,
    split: DatasetSplit,
    data: tuple[np.ndarray, np.ndarray],
    train_config: TrainConfig,
    *,
    fetch_timeout: float | None = 30.0,
    on_progress: Callable[[str], None] = lambda message: None,
) -> Submission:
    """Run one participant's round: check, fetch the global model, train on ``data`` (x, y), upload, submit."""
    task = check_can_submit(ledger, task_id, signer.address)
    on_progress(f"fetching global model {task.model_cid}")
    base = fetch_model(store, task.model_cid, task.model_digest, fetch_timeout)
    x, y = data
    config = model_config_for(split)
    on_progress(f"training round {task.round} on {len(x)} samples")
    try:
        if sends_gradients(task.strategy):
            update = compute_gradient(base, config, x, y, split.task)
        else:
            update = train_local(base, config, x, y, split.task, train_config)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"the global model of task {task_id} does not fit the {split.name!r} model ({exc}); "
            "is --dataset the one the task was created with?"
        ) from None
    on_progress("uploading update")
    return submit_bytes(ledger, store, signer, task, codec.encode(update), len(x))
