"""Where commands find the chain, the contract, the IPFS node and the signer.

Each setting comes from, in order: a command-line flag, an environment variable, the devnet state file
(``.fedledger/devnet.json``, written by `fedledger devnet up`; ``$FEDLEDGER_STATE`` names another). The state file
is found like git finds ``.git``: in the current folder or the nearest folder above it that has one, so commands
work from any subfolder of the project that started the devnet. Nothing is guessed beyond that: a missing setting
is a ConfigurationError that says which flag or variable to set.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from fedledger import codec
from fedledger.exceptions import CodecError, ConfigurationError
from fedledger.ledger import Ledger, Signer, connect
from fedledger.store import ContentStore, open_store

ENV_STATE = "FEDLEDGER_STATE"
ENV_RPC = "FEDLEDGER_RPC_URL"
ENV_CONTRACT = "FEDLEDGER_CONTRACT"
ENV_IPFS = "FEDLEDGER_IPFS_API"
ENV_KEY = "FEDLEDGER_PRIVATE_KEY"
DEFAULT_STATE = Path(".fedledger") / "devnet.json"


def state_path(start: Path | None = None) -> Path:
    """$FEDLEDGER_STATE, else the nearest ``.fedledger/devnet.json`` from ``start`` (the cwd) upwards.

    When no folder up to the root has one, the answer is ``.fedledger/devnet.json`` in ``start``: where
    `fedledger devnet up` creates it.
    """
    if os.environ.get(ENV_STATE):
        return Path(os.environ[ENV_STATE])
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / DEFAULT_STATE).is_file():
            return folder / DEFAULT_STATE
    return here / DEFAULT_STATE


def read_state(path: Path | None = None) -> dict[str, Any] | None:
    """The devnet state file's content, or None when there is none."""
    path = path or state_path()
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid JSON ({exc}); delete it and run `fedledger devnet up`")
    return data


@dataclass(frozen=True)
class Endpoints:
    rpc_url: str
    contract: str | None
    ipfs_api: str | None
    from_block: int = 0


def resolve_endpoints(rpc_url: str | None, contract: str | None, ipfs_api: str | None) -> Endpoints:
    """Combine flags, environment variables and the devnet state file (first one set wins)."""
    state = read_state() or {}
    rpc = rpc_url or os.environ.get(ENV_RPC) or state.get("rpc_url")
    ipfs = ipfs_api or os.environ.get(ENV_IPFS) or state.get("ipfs_api")
    address = contract or os.environ.get(ENV_CONTRACT) or state.get("contract_address")
    if not rpc:
        where = (
            f"${ENV_STATE} names {os.environ[ENV_STATE]}, which does not exist"
            if os.environ.get(ENV_STATE)
            else f"no {DEFAULT_STATE} in {Path.cwd()} or any folder above it"
        )
        raise ConfigurationError(
            f"no chain configured ({where}): run `fedledger devnet up`, or pass --rpc-url / set {ENV_RPC}"
        )
    from_block = int(state.get("deploy_block", 0)) if address == state.get("contract_address") else 0
    return Endpoints(rpc, address, ipfs, from_block)


def open_ledger(endpoints: Endpoints) -> Ledger:
    if not endpoints.contract:
        raise ConfigurationError(
            f"no contract address: run `fedledger devnet up` (or `fedledger deploy`), or pass --contract / "
            f"set {ENV_CONTRACT}"
        )
    return Ledger(connect(endpoints.rpc_url), endpoints.contract, from_block=endpoints.from_block)


def open_content_store(endpoints: Endpoints) -> ContentStore:
    if not endpoints.ipfs_api:
        raise ConfigurationError(
            f"no IPFS node configured: run `fedledger devnet up`, or pass --ipfs-api / set {ENV_IPFS}"
        )
    return open_store(endpoints.ipfs_api)


def resolve_address(w3: Web3, who: str) -> str:
    """An address, or a small integer N meaning the node's dev account N (devnets only)."""
    if who.isdigit():
        accounts = w3.eth.accounts
        index = int(who)
        if index >= len(accounts):
            raise ConfigurationError(
                f"dev account {index} does not exist: this node manages {len(accounts)} accounts "
                "(dev accounts exist only on a devnet; pass a 0x address on a real chain)"
            )
        return str(accounts[index])
    if not Web3.is_address(who):
        raise ConfigurationError(f"{who!r} is neither an 0x address nor a dev account number")
    return Web3.to_checksum_address(who)


def resolve_signer(w3: Web3, account: int | None, key_file: Path | None) -> Signer:
    """The transaction signer: --key-file, else --account N, else $FEDLEDGER_PRIVATE_KEY, else dev account 0.

    --key-file and --account together are refused: silently preferring one would sign as someone unexpected.
    """
    if key_file is not None and account is not None:
        raise ConfigurationError(
            "--key-file and --account name two different signers; pass only one of them"
        )
    if key_file is not None:
        try:
            return Signer.from_key(key_file.read_text().strip())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot use key file {key_file}: {exc}") from None
    if account is None and os.environ.get(ENV_KEY):
        try:
            return Signer.from_key(os.environ[ENV_KEY].strip())
        except ValueError as exc:
            raise ConfigurationError(f"${ENV_KEY} is not a private key: {exc}") from None
    return Signer(resolve_address(w3, str(account or 0)))


def read_model_file(path: Path, what: str) -> bytes:
    """Read a canonical safetensors file named on the command line, or say clearly why it cannot be used."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise ConfigurationError(f"{what} {path} is a directory, not a safetensors file") from None
    except FileNotFoundError:
        raise ConfigurationError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        codec.decode(data)
    except CodecError as exc:
        raise ConfigurationError(f"{what} {path} is not a canonical fedledger model: {exc}") from None
    return data
