"""Options shared by many commands (declared once here), the lazily opened chain/IPFS context, extras checks,
and the mapping of library errors to one clear line and an exit code."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated

import typer
from web3 import Web3

from fedledger.cli import output
from fedledger.cli.settings import (
    ENV_CONTRACT,
    ENV_IPFS,
    ENV_KEY,
    ENV_RPC,
    Endpoints,
    open_content_store,
    open_ledger,
    resolve_endpoints,
    resolve_signer,
)
from fedledger.exceptions import ConfigurationError, FedLedgerError
from fedledger.ledger import Ledger, Signer
from fedledger.store import ContentStore

# Help texts escape their brackets: rich markup would otherwise eat "[env ...]" as a tag.
RpcOpt = Annotated[
    str | None,
    typer.Option(help=f"Ethereum JSON-RPC URL, or 'embedded' \\[env {ENV_RPC}; else the devnet state file]."),
]
ContractOpt = Annotated[str | None, typer.Option(help=f"Round contract address \\[env {ENV_CONTRACT}].")]
IpfsOpt = Annotated[
    str | None,
    typer.Option(help=f"IPFS RPC API: multiaddr or http URL, or local:DIR \\[env {ENV_IPFS}]."),
]
AccountOpt = Annotated[
    int | None, typer.Option(min=0, help="Sign as the node's dev account N (devnets; default 0).")
]
KeyFileOpt = Annotated[
    Path | None,
    typer.Option(help=f"File holding the signer's hex private key (real chains) \\[or env {ENV_KEY}]."),
]


def _json_mode(value: bool) -> bool:
    """Remember --json for run_command, which then also prints errors as one JSON document on stdout."""
    output.json_mode = value
    return value


def _task_id(value: int) -> int:
    """A task id is a uint256 >= 1 (checked here rather than by typer, whose help would print the 78-digit bound)."""
    if not 1 <= value < 2**256:
        raise typer.BadParameter("a task id is a whole number from 1 up (a uint256)")
    return value


JsonOpt = Annotated[
    bool,
    typer.Option("--json", callback=_json_mode, help="Print one JSON document for scripts (errors too)."),
]
TaskOpt = Annotated[int, typer.Option(metavar="ID", callback=_task_id, help="Task id.")]

EXTRAS: dict[str, tuple[str, ...]] = {
    "node": ("torch",),
    "demo": ("torch", "sklearn", "pyrevm", "matplotlib"),
}


def require_extra(extra: str, what: str) -> None:
    """Raise ConfigurationError naming the extra to install when one of its packages is missing."""
    missing = [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigurationError(
            f"{what} needs the [{extra}] extra ({', '.join(missing)} not installed): "
            f"pip install 'fedledger[{extra}]'"
        )


@dataclass
class Context:
    """What a command talks to, opened on first use so that bad settings fail with a clear message."""

    rpc_url: str | None
    contract: str | None
    ipfs_api: str | None
    account: int | None = None
    key_file: Path | None = None
    _endpoints: Endpoints | None = field(default=None, repr=False)

    @property
    def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            self._endpoints = resolve_endpoints(self.rpc_url, self.contract, self.ipfs_api)
        return self._endpoints

    @cached_property
    def ledger(self) -> Ledger:
        return open_ledger(self.endpoints)

    @property
    def w3(self) -> Web3:
        return self.ledger.w3

    @cached_property
    def store(self) -> ContentStore:
        return open_content_store(self.endpoints)

    @cached_property
    def signer(self) -> Signer:
        return resolve_signer(self.w3, self.account, self.key_file)


def run_command(body: Callable[[], None]) -> None:
    """Run a command body; library errors become one clear line on stderr and a non-zero exit code.

    Exit codes: 1 when the chain, the store or the data refused or failed (the request was understood); 2 for bad
    settings or usage; 130 on Ctrl-C. With --json the error is also one JSON document on stdout:
    ``{"error": {"message", "type", "exit_code"}}``.
    """
    try:
        body()
    except ConfigurationError as exc:
        _fail(exc, 2)
    except FedLedgerError as exc:
        _fail(exc, 1)
    except KeyboardInterrupt:
        output.err.print("interrupted")
        raise typer.Exit(130) from None


def _fail(exc: Exception, code: int) -> None:
    message = " ".join(str(exc).split())  # one line, whatever the library put in it
    output.error_line(message)
    if output.json_mode:
        output.emit_json({"error": {"message": message, "type": type(exc).__name__, "exit_code": code}})
    raise typer.Exit(code) from None
