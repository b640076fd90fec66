"""The `fedledger` command line: registration only (Flower's ``flwr/cli/app.py`` is the model).

Every command lives in the module of its group with its own typer signature. Every reporting command takes
``--json`` (one JSON document on stdout, nothing else there); people get tables and a progress line on stderr.
Library errors become one red line and exit code 1 (2 for bad settings or usage).
"""

from __future__ import annotations

from typing import Annotated

import typer

from fedledger import __version__
from fedledger.cli import aggregate, audit, demo, deploy, devnet, model, node, output, participant, task

app = typer.Typer(
    help="Auditable federated learning anchored on an Ethereum round contract and IPFS.",
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"fedledger {__version__}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Auditable federated learning anchored on an Ethereum round contract and IPFS."""
    output.json_mode = False  # each command's --json sets it again (several commands may run in one process)
    if ctx.invoked_subcommand is None:  # bare `fedledger`: the help, as a successful answer
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


app.command()(demo.demo)
app.command()(deploy.deploy)
app.add_typer(task.app, name="task")
app.add_typer(participant.app, name="participant")
app.add_typer(node.app, name="node")
app.add_typer(model.app, name="model")
app.command()(aggregate.aggregate)
app.add_typer(audit.app, name="audit")
app.add_typer(devnet.app, name="devnet")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="fedledger")
