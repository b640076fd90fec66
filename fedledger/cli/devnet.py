"""`fedledger devnet up|status|down`: the local Hardhat node + IPFS daemon the multi-process workflow runs on."""

from __future__ import annotations

from typing import Annotated

import typer

from fedledger import devnet
from fedledger.cli import output
from fedledger.cli.options import JsonOpt, run_command
from fedledger.cli.settings import state_path

app = typer.Typer(
    help="Run a local devnet: Hardhat node + IPFS daemon + deployed contract.", no_args_is_help=True
)


@app.command("up")
def up(
    rpc_port: Annotated[
        int, typer.Option(help="Hardhat JSON-RPC port on 127.0.0.1.")
    ] = devnet.DEFAULT_RPC_PORT,
    ipfs_port: Annotated[
        int, typer.Option(help="IPFS RPC API port on 127.0.0.1.")
    ] = devnet.DEFAULT_IPFS_PORT,
    json_: JsonOpt = False,
) -> None:
    """Start both daemons in the background, deploy the contract, write .fedledger/devnet.json."""

    def body() -> None:
        with output.progress(not json_) as show:
            state = devnet.up(devnet.DevnetConfig(state_path(), rpc_port, ipfs_port), show)
        if json_:
            output.emit_json(state)
            return
        output.say(
            f"devnet up in {state['startup_seconds']} s: chain {state['chain_id']} at "
            f"{state['rpc_url']}, IPFS API {state['ipfs_api']}, contract {state['contract_address']}"
        )
        output.say(f"state in {state_path()}; stop with `fedledger devnet down`")

    run_command(body)


@app.command("status")
def status(json_: JsonOpt = False) -> None:
    """Check that the recorded processes run and answer; exit 1 when unhealthy."""

    def body() -> None:
        report = devnet.status(state_path())
        if json_:
            output.emit_json(report)
        else:
            hardhat, ipfs = report["hardhat"], report["ipfs"]
            output.table(
                "devnet",
                ["part", "pid", "alive", "endpoint", "answers"],
                [
                    [
                        "hardhat",
                        hardhat["pid"],
                        hardhat["alive"],
                        hardhat["rpc_url"],
                        hardhat["chain_id"] is not None,
                    ],
                    ["ipfs", ipfs["pid"], ipfs["alive"], ipfs["ipfs_api"], ipfs["version"] is not None],
                    ["contract", "-", "-", report["contract"]["address"], report["contract"]["deployed"]],
                ],
            )
        if not report["healthy"]:
            raise typer.Exit(1)

    run_command(body)


@app.command("down")
def down(json_: JsonOpt = False) -> None:
    """Stop exactly the processes `devnet up` started."""

    def body() -> None:
        stopped = devnet.down(state_path())
        if json_:
            output.emit_json({"stopped": stopped})
        else:
            output.out.print(
                "devnet stopped: "
                + ", ".join(f"{k} ({'was running' if v else 'already gone'})" for k, v in stopped.items())
            )

    run_command(body)
