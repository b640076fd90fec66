"""`fedledger node train|submit`: one participant's round, as a separate process."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fedledger import codec
from fedledger.cli import output
from fedledger.cli.options import (
    AccountOpt,
    Context,
    ContractOpt,
    IpfsOpt,
    JsonOpt,
    KeyFileOpt,
    RpcOpt,
    TaskOpt,
    require_extra,
    run_command,
)
from fedledger.cli.participant import current_participants
from fedledger.cli.settings import read_model_file
from fedledger.exceptions import ConfigurationError

if TYPE_CHECKING:
    from fl_node.participant import Submission

app = typer.Typer(help="Act as one participant: train and submit updates.", no_args_is_help=True)

MAX_SAMPLES = 2**64 - 1  # the contract's uint64


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
    members = current_participants(ctx.ledger, task)
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


@app.command("train")
def train(
    task: TaskOpt,
    shard: Annotated[
        str | None, typer.Option(help="This node's data slice K/N (default: from the allowlist).")
    ] = None,
    dataset: Annotated[str, typer.Option(help="Dataset the task's model was built for.")] = "bikes",
    epochs: Annotated[int, typer.Option(min=1, help="Local epochs.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the data split and training.")] = 0,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    ipfs_api: IpfsOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Fetch the global model, train on this node's slice, upload the update and register it on-chain."""

    def body() -> None:
        require_extra("node", "`fedledger node train`")
        from fl_node.data import load_dataset, partition
        from fl_node.participant import train_and_submit
        from fl_node.train import TrainConfig

        ctx = Context(rpc_url, contract, ipfs_api, account, key_file)
        k, n = parse_shard(shard) if shard else default_shard(ctx, task)
        with output.progress(not json_) as show:
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
        _report(submission, json_)

    run_command(body)


@app.command("submit")
def submit(
    update: Annotated[Path, typer.Argument(help="Canonical safetensors update file.")],
    task: TaskOpt,
    samples: Annotated[
        int, typer.Option(min=1, max=MAX_SAMPLES, help="Training samples behind this update.")
    ],
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    ipfs_api: IpfsOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Upload an existing update file and register it for the open round."""

    def body() -> None:
        from fl_node.participant import check_can_submit, submit_bytes

        data = read_model_file(update, "update file")
        ctx = Context(rpc_url, contract, ipfs_api, account, key_file)
        state = check_can_submit(ctx.ledger, task, ctx.signer.address)
        _report(submit_bytes(ctx.ledger, ctx.store, ctx.signer, state, data, samples), json_)

    run_command(body)
