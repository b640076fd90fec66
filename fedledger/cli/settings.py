"""Where commands find the chain, the contract, the IPFS node and the signer.

Each setting comes from, in order: a command-line flag, an environment variable, the devnet state file
(``.fedledger/devnet.json``, written by `fedledger devnet up`; ``$FEDLEDGER_STATE`` names another). The state file
is found like git finds ``.git``: in the current folder or the nearest folder above it that has one, so commands
work from any subfolder of the project that started the devnet. Nothing is guessed beyond that: a missing setting
is a ConfigurationError that says which flag or variable to set.
"""

from __future__ import annotations

import os
from pathlib import Path

from web3 import Web3

from fedledger import codec

# Re-exported: where commands find the chain (the core's fedledger.endpoints, shared with the Flower adapter).
from fedledger.endpoints import (
    DEFAULT_STATE,
    ENV_CONTRACT,
    ENV_IPFS,
    ENV_KEY,
    ENV_RPC,
    ENV_STATE,
    Endpoints,
    read_state,
    resolve_endpoints,
    state_path,
)
from fedledger.exceptions import CodecError, ConfigurationError
from fedledger.ledger import Ledger, Signer, connect
from fedledger.store import ContentStore, open_store

__all__ = [
    "DEFAULT_STATE",
    "ENV_CONTRACT",
    "ENV_IPFS",
    "ENV_KEY",
    "ENV_RPC",
    "ENV_STATE",
    "Endpoints",
    "read_state",
    "resolve_endpoints",
    "state_path",
]


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
        raise ConfigurationError("--key-file and --account name two different signers; pass only one of them")
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
