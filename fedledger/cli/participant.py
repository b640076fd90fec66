"""`fedledger participant add|remove|list`: the task owner manages the allowlist."""

from __future__ import annotations

from typing import Annotated

import typer

from fedledger.cli import output
from fedledger.cli.options import (
    AccountOpt,
    Context,
    ContractOpt,
    JsonOpt,
    KeyFileOpt,
    RpcOpt,
    TaskOpt,
    run_command,
)
from fedledger.cli.output import plural
from fedledger.cli.settings import resolve_address
from fedledger.ledger import Ledger

app = typer.Typer(help="Manage a task's allowlist (owner only).", no_args_is_help=True)
AddressArg = Annotated[str, typer.Argument(help="Address, or dev account number N.")]


def current_participants(ledger: Ledger, task: int) -> list[str]:
    """The allowlist in the order accounts joined (replayed from events)."""
    members: list[str] = []
    for change in ledger.participant_changes(task):
        if change.added:
            members.append(change.participant)
        elif change.participant in members:
            members.remove(change.participant)
    return members


def _change(ctx: Context, task: int, who: str, add: bool, max_samples: int, as_json: bool) -> None:
    address = resolve_address(ctx.w3, who)
    if add:
        tx = ctx.ledger.add_participant(ctx.signer, task, address, max_samples=max_samples)
    else:
        tx = ctx.ledger.remove_participant(ctx.signer, task, address)
    if as_json:
        payload = {"task_id": task, "participant": address, "added": add, "gas": tx.gas_used}
        output.emit_json({**payload, "max_samples": max_samples} if add else payload)
    elif add:
        cap = f" (at most {max_samples} samples per submission)" if max_samples else ""
        output.say(f"added {address} to task {task}{cap}")
    else:
        output.say(f"removed {address} from task {task}")


@app.command("add")
def add(
    address: AddressArg,
    task: TaskOpt,
    max_samples: Annotated[
        int,
        typer.Option(
            min=0, max=2**64 - 1, help="Most samples it may claim per submission (0: task cap only)."
        ),
    ] = 0,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Add ADDRESS to the task's allowlist."""
    run_command(
        lambda: _change(
            Context(rpc_url, contract, None, account, key_file), task, address, True, max_samples, json_
        )
    )


@app.command("remove")
def remove(
    address: AddressArg,
    task: TaskOpt,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Remove ADDRESS from the task's allowlist."""
    run_command(
        lambda: _change(Context(rpc_url, contract, None, account, key_file), task, address, False, 0, json_)
    )


@app.command("list")
def list_(
    task: TaskOpt, rpc_url: RpcOpt = None, contract: ContractOpt = None, json_: JsonOpt = False
) -> None:
    """List the task's current participants (from its events)."""

    def body() -> None:
        ledger = Context(rpc_url, contract, None).ledger
        ledger.get_task(task)  # a task that does not exist is an error, not an empty list
        members = current_participants(ledger, task)
        if json_:
            output.emit_json({"task_id": task, "participants": members})
        else:
            output.table(
                f"task {task}: {plural(len(members), 'participant')}",
                ["#", "address"],
                [[i, m] for i, m in enumerate(members)],
            )

    run_command(body)
