"""Where fedledger finds the chain, the contract and the IPFS node: flags, environment, the devnet state file.

Each setting comes from, in order: an explicit value (a command-line flag), an environment variable, the devnet
state file (``.fedledger/devnet.json``, written by `fedledger devnet up`; ``$FEDLEDGER_STATE`` names another). The
state file is found like git finds ``.git``: in the current folder or the nearest folder above it that has one.
This lives in the core because every face needs it: the CLI, and the Flower adapter's ServerApp.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedledger.exceptions import ConfigurationError

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
        raise ConfigurationError(
            f"{path} is not valid JSON ({exc}); delete it and run `fedledger devnet up`"
        ) from None
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
