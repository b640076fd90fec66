"""The `fedledger` command line: wiring only, one small function per command.

Every reporting command takes ``--json`` (one JSON document on stdout, nothing else there); people get tables and
a progress line on stderr. Errors from the library become one red line and exit code 1 (2 for bad usage).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fedledger.cli_options import (
    AccountOpt,
    ContractOpt,
    IpfsOpt,
    JsonOpt,
    KeyFileOpt,
    RpcOpt,
    TaskOpt,
    context,
    run_command,
)

app = typer.Typer(
    help="Auditable federated learning anchored on an Ethereum round contract and IPFS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
task_app = typer.Typer(help="Create and inspect training tasks.", no_args_is_help=True)
participant_app = typer.Typer(help="Manage a task's allowlist (owner only).", no_args_is_help=True)
node_app = typer.Typer(help="Act as one participant: train and submit updates.", no_args_is_help=True)
audit_app = typer.Typer(
    help="Read and verify the round history from the chain and IPFS alone.", no_args_is_help=True
)
app.add_typer(task_app, name="task")
app.add_typer(participant_app, name="participant")
app.add_typer(node_app, name="node")
app.add_typer(audit_app, name="audit")


@app.command()
def demo(
    participants: Annotated[
        int, typer.Option(min=1, max=256, help="Participants (each its own data slice).")
    ] = 4,
    rounds: Annotated[int, typer.Option(min=1, help="Federated rounds.")] = 5,
    dataset: Annotated[
        str, typer.Option(help="bikes (UCI bike sharing, RMSE) or digits (accuracy).")
    ] = "bikes",
    strategy: Annotated[str, typer.Option(help="fedavg, or fedsgd[:lr=X].")] = "fedavg",
    seed: Annotated[int, typer.Option(help="Seed for data split, initial model and training.")] = 0,
    report: Annotated[
        Path | None, typer.Option(help="Also write report.json and learning_curve.png here.")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Run a whole federation on the embedded chain and store, then audit every round."""
    from fedledger import demo_cli

    run_command(lambda: demo_cli.demo(participants, rounds, dataset, strategy, seed, report, json_))


@app.command()
def deploy(
    rpc_url: RpcOpt = None, account: AccountOpt = None, key_file: KeyFileOpt = None, json_: JsonOpt = False
) -> None:
    """Deploy a fresh round contract (for chains other than the devnet, which deploys its own)."""
    from fedledger import chain_cli

    run_command(lambda: chain_cli.deploy(rpc_url, account, key_file, json_))


@task_app.command("create")
def task_create(
    participants: Annotated[str, typer.Option(help="Comma-separated addresses or dev account numbers.")] = "",
    aggregator: Annotated[str, typer.Option(help="Aggregator address or dev account number.")] = "0",
    quorum: Annotated[int, typer.Option(min=1, help="Minimum updates to finalize a round.")] = 2,
    round_duration: Annotated[int, typer.Option(min=1, help="Seconds each round stays open.")] = 600,
    strategy: Annotated[str, typer.Option(help="fedavg, or fedsgd[:lr=X].")] = "fedavg",
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
    from fedledger import chain_cli

    ctx = context(rpc_url, contract, ipfs_api, account, key_file)
    run_command(
        lambda: chain_cli.task_create(
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


@task_app.command("open")
def task_open(
    task: TaskOpt,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Open the first round of a task created with --no-open."""
    from fedledger import chain_cli

    run_command(lambda: chain_cli.task_open(context(rpc_url, contract, None, account, key_file), task, json_))


@task_app.command("show")
def task_show(
    task: TaskOpt, rpc_url: RpcOpt = None, contract: ContractOpt = None, json_: JsonOpt = False
) -> None:
    """Show a task's live state: round, deadline, submissions, current model."""
    from fedledger import chain_cli

    run_command(lambda: chain_cli.task_show(context(rpc_url, contract, None, None, None), task, json_))


@participant_app.command("add")
def participant_add(
    address: Annotated[str, typer.Argument(help="Address, or dev account number N.")],
    task: TaskOpt,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Add ADDRESS to the task's allowlist."""
    from fedledger import chain_cli

    ctx = context(rpc_url, contract, None, account, key_file)
    run_command(lambda: chain_cli.participant_change(ctx, task, address, True, json_))


@participant_app.command("remove")
def participant_remove(
    address: Annotated[str, typer.Argument(help="Address, or dev account number N.")],
    task: TaskOpt,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Remove ADDRESS from the task's allowlist."""
    from fedledger import chain_cli

    ctx = context(rpc_url, contract, None, account, key_file)
    run_command(lambda: chain_cli.participant_change(ctx, task, address, False, json_))


@participant_app.command("list")
def participant_list(
    task: TaskOpt, rpc_url: RpcOpt = None, contract: ContractOpt = None, json_: JsonOpt = False
) -> None:
    """List the task's current participants (from its events)."""
    from fedledger import chain_cli

    run_command(lambda: chain_cli.participant_list(context(rpc_url, contract, None, None, None), task, json_))


@node_app.command("train")
def node_train(
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
    from fedledger import node_cli

    ctx = context(rpc_url, contract, ipfs_api, account, key_file)
    run_command(lambda: node_cli.train(ctx, task, shard, dataset, epochs, seed, json_))


@node_app.command("submit")
def node_submit(
    update: Annotated[Path, typer.Argument(help="Canonical safetensors update file.")],
    task: TaskOpt,
    samples: Annotated[int, typer.Option(min=1, help="Training samples behind this update.")],
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    ipfs_api: IpfsOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Upload an existing update file and register it for the open round."""
    from fedledger import node_cli

    ctx = context(rpc_url, contract, ipfs_api, account, key_file)
    run_command(lambda: node_cli.submit(ctx, task, update, samples, json_))


@app.command()
def aggregate(
    task: TaskOpt,
    watch: Annotated[
        bool, typer.Option(help="Keep following the chain and finalize round after round.")
    ] = False,
    interval: Annotated[float, typer.Option(help="Seconds between checks with --watch.")] = 2.0,
    max_rounds: Annotated[
        int | None, typer.Option(help="With --watch: stop after closing this many rounds.")
    ] = None,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    ipfs_api: IpfsOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Finalize the open round once every participant submitted or its deadline passed."""
    from fedledger import aggregate_cli

    ctx = context(rpc_url, contract, ipfs_api, account, key_file)
    run_command(lambda: aggregate_cli.aggregate(ctx, task, watch, interval, max_rounds, json_))


@audit_app.command("history")
def audit_history(
    task: Annotated[int | None, typer.Option(help="One task (default: all).")] = None,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Every task's rounds, submissions and committed global models, from events alone."""
    from fedledger import audit_cli

    run_command(lambda: audit_cli.history(context(rpc_url, contract, None, None, None), task, json_))


@audit_app.command("verify")
def audit_verify(
    task: Annotated[int | None, typer.Option(help="One task (default: all).")] = None,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    ipfs_api: IpfsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Re-fetch every included update, re-aggregate, and check each committed global digest."""
    from fedledger import audit_cli

    run_command(lambda: audit_cli.verify(context(rpc_url, contract, ipfs_api, None, None), task, json_))


def _devnet() -> None:
    from fedledger.devnet_cli import devnet_app

    app.add_typer(devnet_app, name="devnet")


_devnet()
