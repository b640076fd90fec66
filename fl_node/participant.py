"""The participant's side of a round: fetch the current global model, train on local data, upload, register.

Checks that would make a submission revert run before training (``fl_node.submit.check_can_submit``), so a
participant never burns minutes of compute on an update the contract will refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from fedledger import codec
from fedledger.exceptions import ConfigurationError, SubmissionRefusedError
from fedledger.fetch import fetch_model
from fedledger.files import write_atomic
from fedledger.ledger import Ledger, Signer
from fedledger.records import TaskState
from fedledger.store import ContentStore
from fedledger.strategy_spec import parse_canonical
from fl_node.commit_reveal import commit_and_reveal
from fl_node.data import DatasetSplit
from fl_node.model import ModelConfig, model_config_for
from fl_node.submit import Submission, check_can_submit, check_participant, submit_bytes
from fl_node.train import TrainConfig, compute_gradient, train_local

__all__ = ["Submission", "check_can_submit", "check_participant", "submit_bytes", "train_and_submit"]


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
    verify_base: Callable[[TaskState], None] | None = None,
    on_progress: Callable[[str], None] = lambda message: None,
    model_config: ModelConfig | None = None,
    keep_update: Path | None = None,
    commit_reveal: bool = False,
) -> Submission:
    """Run one participant's round: check, verify and fetch the global model, train on ``data`` (x, y), submit.

    ``verify_base`` re-derives the round that produced the global model and raises when it does not verify: a
    participant is an auditor before it builds on a model. The claimed sample count is the number of rows,
    lowered to the participant's cap when it has one (its weight is capped, its data still used).
    ``model_config`` defaults to ``model_config_for(split)``; a task built on the MNIST CNN needs
    ``model_config_for(split, "cnn")``. ``keep_update``: also write the update's canonical bytes to this file
    (before uploading, so that it is kept even when the registration fails). ``commit_reveal``: the task registers
    updates by commit and reveal (``fl_node.commit_reveal``); the opening is kept next to ``keep_update``.
    """
    x, _ = data
    view = check_participant(ledger, task_id, signer.address)  # the claim below never exceeds the cap it read
    task, cap = view.task, view.sample_cap
    num_samples = min(len(x), cap) if cap else len(x)
    if verify_base is not None:
        on_progress(f"verifying the global model of task {task_id} before building on it")
        verify_base(task)
    on_progress(f"fetching global model {task.model_cid}")
    base = fetch_model(
        store, task.model_cid, task.model_digest, fetch_timeout, max_bytes=task.limits.max_update_bytes
    )
    on_progress(f"training round {task.round} on {len(x)} samples")
    update = train_update(base, task, split, data, train_config, model_config or model_config_for(split))
    encoded = codec.encode(update)
    if keep_update is not None:
        write_atomic(keep_update, encoded)
    if commit_reveal:
        salt_file = (
            keep_update.with_name(keep_update.name + ".reveal.json") if keep_update is not None else None
        )
        return commit_and_reveal(
            ledger, store, signer, task, encoded, num_samples, on_progress=on_progress, salt_file=salt_file
        )
    on_progress("uploading update")
    return submit_bytes(ledger, store, signer, task, encoded, num_samples)


def train_update(
    base: codec.Tensors,
    task: TaskState,
    split: DatasetSplit,
    data: tuple[np.ndarray, np.ndarray],
    train_config: TrainConfig,
    model_config: ModelConfig,
) -> codec.Tensors:
    """What the task's rule asks of a participant on ``base``: its gradient (FedSGD) or its locally trained model;
    refused when it does not fit the dataset's model or holds a NaN or infinity (plain and private rounds)."""
    x, y = data
    try:
        if parse_canonical(task.strategy).sends_gradients:
            update = compute_gradient(base, model_config, x, y, split.task)
        else:
            update = train_local(base, model_config, x, y, split.task, train_config)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"the global model of task {task.task_id} does not fit the {split.name!r} model ({exc}); "
            "is --dataset the one the task was created with?"
        ) from None
    _refuse_non_finite(update, task)
    return update


def _refuse_non_finite(update: codec.Tensors, task: TaskState) -> None:
    """An update with a NaN or infinity is excluded as ``non_finite``: never upload or register one."""
    bad = [name for name in sorted(update) if not np.isfinite(update[name]).all()]
    if bad:
        raise SubmissionRefusedError(
            f"the update trained on round {task.round}'s global model of task {task.task_id} has NaN or infinite "
            f"values in {', '.join(repr(n) for n in bad)}; it would be excluded as non_finite, so nothing was "
            "uploaded (has the global model diverged? `fedledger audit verify` checks it)"
        )
