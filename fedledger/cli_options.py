"""Options shared by many commands, the lazily opened chain/IPFS context, and error-to-exit-code mapping."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from web3 import Web3

from fedledger import output
from fedledger.exceptions import ConfigurationError, FedLedgerError
from fedledger.ledger import Ledger, Signer
from fedledger.settings import Endpoints, open_content_store, open_ledger, resolve_endpoints, resolve_signer
from fedledger.store import ContentStore

RpcOpt = Annotated[
    str | None, typer.Option(help="Ethereum JSON-RPC URL [env FEDLEDGER_RPC_URL; devnet state].")
]
ContractOpt = Annotated[str | None, typer.Option(help="Round contract address [env FEDLEDGER_CONTRACT].")]
IpfsOpt = Annotated[
    str | None,
    typer.Option(help="IPFS RPC API: multiaddr or http URL, or local:DIR [env FEDLEDGER_IPFS_API]."),
]
AccountOpt = Annotated[
    int | None, typer.Option(help="Sign as the node's dev account N (devnets; default 0).")
]
KeyFileOpt = Annotated[
    Path | None,
    typer.Option(help="File holding the signer's hex private key (real chains) [env FEDLEDGER_PRIVATE_KEY]."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document for scripts.")]
TaskOpt = Annotated[int, typer.Option(help="Task id.")]


@dataclass
class Context:
    """What a command talks to, opened on first use so that bad settings fail with a clear message."""

    rpc_url: str | None
    contract: str | None
    ipfs_api: str | None
    account: int | None
    key_file: Path | None
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


def context(
    rpc_url: str | None,
    contract: str | None,
    ipfs_api: str | None,
    account: int | None,
    key_file: Path | None,
) -> Context:
    return Context(rpc_url, contract, ipfs_api, account, key_file)


def run_command(body: Callable[[], None]) -> None:
    """Run a command body; library errors become one clear line on stderr and a non-zero exit code."""
    try:
        body()
    except ConfigurationError as exc:
        output.err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    except FedLedgerError as exc:
        output.err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        output.err.print("interrupted")
        raise typer.Exit(130) from None
