"""`fedledger node train|submit`: one participant's round, as a separate process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fedledger import codec, output
from fedledger.chain_cli import current_participants
from fedledger.cli_options import Context
from fedledger.exceptions import ConfigurationError
from fl_node.data import load_dataset, partition
from fl_node.participant import Submission, check_can_submit, submit_bytes, train_and_submit
from fl_node.train import TrainConfig


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N) with 0 <= K < N."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigurationError(f"--shard must look like K/N (e.g. 0/3), got {text!r}") from None
    if not 0 <= k < n:
        raise ConfigurationError(f"--shard {text}: K must be in 0..N-1")
    return k, n


def default_shard(ctx: Context, task: int) -> tuple[int, int]:
    """This signer's position in the task's allowlist, over the allowlist's size."""
    members = current_participants(ctx, task)
    if ctx.signer.address not in members:
        raise ConfigurationError(
            f"{ctx.signer.address} is not a participant of task {task}; pass --shard K/N "
            "or ask the owner to add it"
        )
    return members.index(ctx.signer.address), len(members)


def submission_json(s: Submission) -> dict[str, Any]:
    return {
        "task_id": s.task_id,
        "round": s.round,
        "participant": s.participant,
        "cid": s.cid,
        "digest": codec.digest_hex(s.digest),
        "num_samples": s.num_samples,
        "gas": s.tx.gas_used,
        "tx": s.tx.tx_hash,
    }


def _report(s: Submission, as_json: bool) -> None:
    if as_json:
        output.emit_json(submission_json(s))
    else:
        output.say(
            f"submitted round {s.round} of task {s.task_id} as {s.participant}: {s.num_samples} "
            f"samples, {codec.digest_hex(s.digest)[:18]}… at {s.cid} ({s.tx.gas_used} gas)"
        )


def train(
    ctx: Context, task: int, shard: str | None, dataset: str, epochs: int, seed: int, as_json: bool
) -> None:
    k, n = parse_shard(shard) if shard else default_shard(ctx, task)
    with output.progress(not as_json) as show:
        show(f"loading {dataset} slice {k}/{n}")
        split = load_dataset(dataset, seed=seed)  # type: ignore[arg-type]
        data = partition(split, n, k, seed=seed)
        submission = train_and_submit(
            ctx.ledger,
            ctx.store,
            ctx.signer,
            task,
            split,
            data,
            TrainConfig(epochs=epochs, seed=seed),
            on_progress=show,
        )
    _report(submission, as_json)


def submit(ctx: Context, task: int, update: Path, samples: int, as_json: bool) -> None:
    try:
        data = update.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read update file {update}: {exc}") from None
    state = check_can_submit(ctx.ledger, task, ctx.signer.address)
    _report(submit_bytes(ctx.ledger, ctx.store, ctx.signer, state, data, samples), as_json)
