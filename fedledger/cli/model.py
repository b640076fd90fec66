"""`fedledger model get`: the product of federated learning, out of the chain and into a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fedledger import codec
from fedledger.cli import output
from fedledger.cli.options import Context, ContractOpt, IpfsOpt, JsonOpt, RpcOpt, TaskOpt, run_command
from fedledger.fetch import fetch_model_bytes, locate_global_model
from fedledger.files import write_atomic

app = typer.Typer(help="Get a task's global model out of the chain and IPFS.", no_args_is_help=True)


@app.command("get")
def get(
    task: TaskOpt,
    out: Annotated[Path, typer.Option(help="File to write (canonical safetensors).")],
    round_: Annotated[
        int | None,
        typer.Option(
            "--round", min=0, help="The global model of this round (0: the initial model; default: latest)."
        ),
    ] = None,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    ipfs_api: IpfsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Write a task's global model to a file after checking its bytes against the digest committed on-chain."""

    def body() -> None:
        ctx = Context(rpc_url, contract, ipfs_api)
        where = locate_global_model(ctx.ledger, task, round_)
        limit = ctx.ledger.get_task(task).limits.max_update_bytes
        data = fetch_model_bytes(ctx.store, where.cid, where.digest, 60.0, max_bytes=limit)
        tensors = codec.decode(data)
        write_atomic(out, data)
        parameters = sum(int(t.size) for t in tensors.values())
        if json_:
            output.emit_json(
                {
                    "task_id": task,
                    "round": where.round,
                    "path": str(out),
                    "digest": codec.digest_hex(where.digest),
                    "cid": where.cid,
                    "bytes": len(data),
                    "tensors": len(tensors),
                    "parameters": parameters,
                }
            )
        else:
            which = "initial model" if where.round == 0 else f"global model of round {where.round}"
            output.say(
                f"wrote the {which} of task {task} to {out}: {len(tensors)} tensors, {parameters:,} parameters, "
                f"{len(data):,} bytes, digest {codec.digest_hex(where.digest)} (checked against the chain)"
            )

    run_command(body)
