"""`fedledger devnet up|status|down`: the local anvil chain + IPFS daemon the multi-process workflow runs on."""

from __future__ import annotations

from typing import Annotated

import typer

from fedledger import devnet
from fedledger.cli import output
from fedledger.cli.options import JsonOpt, run_command
from fedledger.cli.output import plural
from fedledger.cli.settings import state_path

app = typer.Typer(
    help="Run a local devnet: chain node (anvil, persistent) + IPFS daemon + deployed contract.",
    no_args_is_help=True,
)


@app.command("up")
def up(
    rpc_port: Annotated[int, typer.Option(min=1, max=65535, help="JSON-RPC port on 127.0.0.1.")] = (
        devnet.DEFAULT_RPC_PORT
    ),
    ipfs_port: Annotated[int, typer.Option(min=1, max=65535, help="IPFS RPC API port on 127.0.0.1.")] = (
        devnet.DEFAULT_IPFS_PORT
    ),
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Start a new chain; the old one is moved to .fedledger/chain/archive/ (IPFS is kept).",
        ),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Start both daemons in the background, continuing the recorded chain, and write .fedledger/devnet.json."""

    def body() -> None:
        with output.progress(not json_) as show:
            state = devnet.up(devnet.DevnetConfig(state_path(), rpc_port, ipfs_port, fresh), show)
        if json_:
            output.emit_json(state)
            return
        if state.get("archived_chain"):
            output.say(
                f"started a new chain; the previous one is kept in {state['archived_chain']} "
                "(delete it when you no longer need it)"
            )
        recovered = state["recovered"]
        if recovered:
            output.say(
                f"recovered the chain: {plural(recovered['tasks'], 'task')}, block {recovered['block_height']}, contract "
                f"{recovered['contract_address']} ({recovered['note']})"
            )
        output.say(
            f"devnet up in {state['startup_seconds']} s: chain {state['chain_id']} at "
            f"{state['rpc_url']}, IPFS API {state['ipfs_api']}, contract {state['contract_address']}"
        )
        output.say(f"state in {state_path().parent}; stop with `fedledger devnet down` (the chain is kept)")

    run_command(body)


@app.command("status")
def status(json_: JsonOpt = False) -> None:
    """Check that the recorded processes run and answer; show the chain height and where the state lives."""

    def body() -> None:
        report = devnet.status(state_path())
        if json_:
            output.emit_json(report)
        else:
            chain, ipfs = report["chain"], report["ipfs"]
            output.table(
                "devnet",
                ["part", "pid", "alive", "endpoint", "answers", "state"],
                [
                    [
                        "chain",
                        chain["pid"],
                        chain["alive"],
                        chain["rpc_url"],
                        chain["chain_id"] is not None,
                        f"{chain['state']} (block {chain['block_height']})",
                    ],
                    [
                        "ipfs",
                        ipfs["pid"],
                        ipfs["alive"],
                        ipfs["ipfs_api"],
                        ipfs["version"] is not None,
                        ipfs["repo"],
                    ],
                    [
                        "contract",
                        "-",
                        "-",
                        report["contract"]["address"],
                        report["contract"]["deployed"],
                        "-",
                    ],
                ],
            )
        if not report["healthy"]:
            raise typer.Exit(1)

    run_command(body)


@app.command("down")
def down(json_: JsonOpt = False) -> None:
    """Stop the processes `devnet up` started (never another process that took their PIDs); keep the chain."""

    def body() -> None:
        stopped = devnet.down(state_path())
        if json_:
            output.emit_json({"stopped": stopped})
        else:
            what = ", ".join(f"{name} ({how})" for name, how in stopped.items()) or "nothing was running"
            output.say(f"devnet stopped: {what}")
            output.say(
                f"the chain and IPFS repo stay in {state_path().parent}; `fedledger devnet up` continues"
            )

    run_command(body)
