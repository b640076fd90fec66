"""The `fedledger` command line: registration only (Flower's ``flwr/cli/app.py`` is the model).

Every command lives in the module of its group with its own typer signature. Every reporting command takes
``--json`` (one JSON document on stdout, nothing else there); people get tables and a progress line on stderr.
Library errors become one red line and exit code 1 (2 for bad settings or usage).
"""

from __future__ import annotations

import typer

from fedledger.cli import aggregate, audit, demo, deploy, devnet, node, participant, task

app = typer.Typer(
    help="Auditable federated learning anchored on an Ethereum round contract and IPFS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(demo.demo)
app.command()(deploy.deploy)
app.add_typer(task.app, name="task")
app.add_typer(participant.app, name="participant")
app.add_typer(node.app, name="node")
app.command()(aggregate.aggregate)
app.add_typer(audit.app, name="audit")
app.add_typer(devnet.app, name="devnet")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="fedledger")
