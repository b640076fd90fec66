"""`fedledger task create|open|show`: the owner's side of a task, and its live state."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from aggregator.strategies import strategy_from_spec
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
from fedledger.cli.settings import read_model_file, resolve_address
from fedledger.exceptions import ConfigurationError
from fedledger.strategy_spec import parse_spec

app = typer.Typer(help="Create and inspect training tasks.", no_args_is_help=True)

MAX_ROUND_DURATION = 2**32 - 1  # the contract's limit (seconds)


def _initial_model_bytes(dataset: str, model_file: Path | None, seed: int) -> bytes:
    if model_file is not None:
        return read_model_file(model_file, "--model-file")
    require_extra("node", "building the initial model (task create without --model-file)")
    from fl_node.data import load_dataset
    from fl_node.model import initial_model

    return codec.encode(initial_model(load_dataset(dataset, seed=seed), seed=seed))  # type: ignore[arg-type]


def _members(ctx: Context, participants: str) -> list[str]:
    """Resolve and check the allowlist before anything is sent: no duplicates, no zero address."""
    members = [resolve_address(ctx.w3, p.strip()) for p in participants.split(",") if p.strip()]
    seen: set[str] = set()
    for member in members:
        if int(member, 16) == 0:
            raise ConfigurationError("--participants names the zero address, which can never sign")
        if member in seen:
            raise ConfigurationError(f"--participants names {member} twice")
        seen.add(member)
    return members


def _create(
    ctx: Context,
    participants: str,
    aggregator: str,
    quorum: int,
    round_duration: int,
    strategy: str,
    dataset: str,
    model_file: Path | None,
    seed: int,
    open_round: bool,
    as_json: bool,
) -> None:
    # Validate everything before the first transaction: a half-made task on-chain helps nobody.
    spec = strategy_from_spec(parse_spec(strategy)).spec  # refuse what no aggregator could run
    members = _members(ctx, participants)
    if quorum > max(len(members), 1):
        raise ConfigurationError(f"quorum {quorum} is larger than the {len(members)} participants given")
    aggregator_address = resolve_address(ctx.w3, aggregator)
    data = _initial_model_bytes(dataset, model_file, seed)
    ctx.ledger.require_funds(ctx.signer, transactions=2 + len(members))
    cid = ctx.store.put(data)
    task_id, tx = ctx.ledger.create_task(
        ctx.signer,
        aggregator=aggregator_address,
        initial_digest=codec.model_digest(data),
        initial_cid=cid,
        quorum=quorum,
        round_duration=round_duration,
        strategy=spec,
    )
    for member in members:
        ctx.ledger.add_participant(ctx.signer, task_id, member)
    if open_round:
        ctx.ledger.open_round(ctx.signer, task_id)
    if as_json:
        output.emit_json(
            {
                "task_id": task_id,
                "initial_cid": cid,
                "initial_digest": codec.digest_hex(codec.model_digest(data)),
                "participants": members,
                "strategy": spec,
                "gas": tx.gas_used,
            }
        )
    else:
        output.say(
            f"created task {task_id} ({spec}, quorum {quorum}, {len(members)} participants, "
            f"rounds of {round_duration} s); initial model {cid}"
        )
        output.say(str(task_id))


@app.command("create")
def create(
    participants: Annotated[str, typer.Option(help="Comma-separated addresses or dev account numbers.")] = "",
    aggregator: Annotated[str, typer.Option(help="Aggregator address or dev account number.")] = "0",
    quorum: Annotated[
        int, typer.Option(min=1, max=2**32 - 1, help="Minimum updates to finalize a round.")
    ] = 2,
    round_duration: Annotated[
        int, typer.Option(min=1, max=MAX_ROUND_DURATION, help="Seconds each round stays open.")
    ] = 600,
    strategy: Annotated[str, typer.Option(help="Aggregation rule, e.g. fedavg or fedsgd:lr=0.3.")] = "fedavg",
    dataset: Annotated[str, typer.Option(help="Build the initial model for this dataset.")] = "bikes",
    model_file: Annotated[
        Path | None, typer.Option(help="Initial model as a canonical safetensors file.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the initial model.")] = 0,
    open_round: Annotated[bool, typer.Option("--open/--no-open", help="Open round 1 at once.")] = True,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    ipfs_api: IpfsOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Create a task (the signer owns it), add its participants and open round 1."""
    ctx = Context(rpc_url, contract, ipfs_api, account, key_file)
    run_command(
        lambda: _create(
            ctx,
            participants,
            aggregator,
            quorum,
            round_duration,
            strategy,
            dataset,
            model_file,
            seed,
            open_round,
            json_,
        )
    )


@app.command("open")
def open_(
    task: TaskOpt,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Open the first round of a task created with --no-open."""

    def body() -> None:
        ctx = Context(rpc_url, contract, None, account, key_file)
        tx = ctx.ledger.open_round(ctx.signer, task)
        state = ctx.ledger.get_task(task)
        if json_:
            output.emit_json(
                {"task_id": task, "round": state.round, "deadline": state.deadline, "gas": tx.gas_used}
            )
        else:
            output.say(f"opened round {state.round} of task {task}; deadline {state.deadline}")

    run_command(body)


@app.command("show")
def show(task: TaskOpt, rpc_url: RpcOpt = None, contract: ContractOpt = None, json_: JsonOpt = False) -> None:
    """Show a task's live state: round, deadline, submissions, current model."""

    def body() -> None:
        ledger = Context(rpc_url, contract, None).ledger
        state = asdict(ledger.get_task(task))
        state["model_digest"] = codec.digest_hex(state["model_digest"])
        state["now"] = ledger.block_timestamp()
        if json_:
            output.emit_json(state)
        else:
            output.table(f"task {task}", ["field", "value"], [[k, v] for k, v in state.items()])

    run_command(body)
