"""The local devnet: a Hardhat node and a js-ipfs daemon in the background, plus a deployed round contract.

`up` writes ``.fedledger/devnet.json`` (rpc_url, chain_id, contract_address, deploy_block, ipfs_api, pids, logs),
which every later command reads when no flag or environment variable says otherwise; `down` stops exactly the
processes recorded there. Everything binds to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from fedledger.devnet import processes
from fedledger.devnet.hardhat_node import rpc_answers, start_hardhat_node
from fedledger.devnet.ipfs_daemon import IpfsDaemon
from fedledger.exceptions import DevnetError
from fedledger.ledger import Ledger, Signer, connect

DEFAULT_RPC_PORT = 8545
DEFAULT_IPFS_PORT = 15001  # not Kubo's 5001, so a user's own IPFS node keeps its port


@dataclass(frozen=True)
class DevnetConfig:
    state_file: Path
    rpc_port: int = DEFAULT_RPC_PORT
    ipfs_port: int = DEFAULT_IPFS_PORT

    @property
    def home(self) -> Path:
        return self.state_file.parent


def _read(state_file: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(state_file.read_text())
        return data
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write(state_file: Path, state: dict[str, Any]) -> None:
    state_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, state_file)


def up(config: DevnetConfig, on_progress: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Start both daemons, wait until they answer, deploy the contract, write the state file."""
    previous = _read(config.state_file)
    if previous and any(processes.is_alive(pid) for pid in previous.get("pids", {}).values()):
        raise DevnetError(
            f"a devnet is already running (pids {previous['pids']}, {config.state_file}); "
            "use it, or stop it first with `fedledger devnet down`"
        )
    processes.ensure_port_free(config.rpc_port, "Hardhat node")
    processes.ensure_port_free(config.ipfs_port, "IPFS daemon API")
    logs = {"hardhat": config.home / "hardhat.log", "ipfs": config.home / "ipfs.log"}
    pids: dict[str, int] = {}
    started = time.perf_counter()
    try:
        on_progress(f"starting the Hardhat node on 127.0.0.1:{config.rpc_port}")
        pids["hardhat"], rpc_url, chain_id = start_hardhat_node(config.rpc_port, logs["hardhat"])
        on_progress(f"starting the IPFS daemon on 127.0.0.1:{config.ipfs_port}")
        ipfs = IpfsDaemon(config.home / "ipfs", config.ipfs_port)
        ipfs.init()
        pids["ipfs"] = ipfs.start(logs["ipfs"])
        ipfs.wait_ready(timeout=60.0)
        on_progress("deploying the round contract")
        w3 = connect(rpc_url)
        ledger, tx = Ledger.deploy(w3, Signer(w3.eth.accounts[0]))
    except BaseException:
        for pid in pids.values():
            processes.stop(pid)
        raise
    state = {
        "rpc_url": rpc_url,
        "chain_id": chain_id,
        "contract_address": ledger.address,
        "deploy_block": tx.block_number,
        "ipfs_api": ipfs.api_url,
        "pids": pids,
        "logs": {k: str(v) for k, v in logs.items()},
        "started_at": int(time.time()),
        "startup_seconds": round(time.perf_counter() - started, 2),
    }
    _write(config.state_file, state)
    return state


def status(state_file: Path) -> dict[str, Any]:
    """Health of each recorded process and endpoint; raises DevnetError if there is no state file."""
    state = _read(state_file)
    if state is None:
        raise DevnetError(f"no devnet state at {state_file}: start one with `fedledger devnet up`")
    pids = state.get("pids", {})
    chain_id = rpc_answers(state["rpc_url"])
    try:
        ipfs_version = requests.post(f"{state['ipfs_api']}/api/v0/version", timeout=3).json().get("Version")
    except (requests.RequestException, ValueError):
        ipfs_version = None
    contract_ok = False
    if chain_id is not None:
        w3 = connect(state["rpc_url"])
        contract_ok = bool(w3.eth.get_code(state["contract_address"]))
    report: dict[str, Any] = {
        "state_file": str(state_file),
        "hardhat": {
            "pid": pids.get("hardhat"),
            "alive": processes.is_alive(pids.get("hardhat", 0)),
            "rpc_url": state["rpc_url"],
            "chain_id": chain_id,
        },
        "ipfs": {
            "pid": pids.get("ipfs"),
            "alive": processes.is_alive(pids.get("ipfs", 0)),
            "ipfs_api": state["ipfs_api"],
            "version": ipfs_version,
        },
        "contract": {"address": state["contract_address"], "deployed": contract_ok},
    }
    report["healthy"] = bool(chain_id is not None and ipfs_version and contract_ok)
    return report


def down(state_file: Path) -> dict[str, bool]:
    """Stop exactly the processes the state file names, then remove it; returns which were running."""
    state = _read(state_file)
    if state is None:
        raise DevnetError(f"no devnet state at {state_file}: nothing to stop")
    stopped = {name: processes.stop(int(pid)) for name, pid in state.get("pids", {}).items()}
    state_file.unlink(missing_ok=True)
    return stopped
