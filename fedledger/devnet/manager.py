"""The local devnet: a chain node (anvil) and an IPFS daemon (js-ipfs) in the background, and the round contract.

Everything lives in the folder of the state file (``.fedledger/`` by default, never committed): ``devnet.json``
(endpoints, contract address, daemon PIDs with their identities, logs), ``chain/state.json`` (the whole chain,
dumped every second while it runs and on exit) and ``ipfs/`` (the IPFS repository). `down` stops the daemons and
keeps all three, so the next `up` continues the same chain with the same contract; `up --fresh` starts over.
Everything binds to 127.0.0.1.
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
from fedledger.devnet.chain_node import (
    block_height,
    keep_good_copy,
    rpc_answers,
    start_chain_node,
    usable_state,
)
from fedledger.devnet.ipfs_daemon import IpfsDaemon
from fedledger.exceptions import ChainError, DevnetError
from fedledger.files import write_atomic
from fedledger.ledger import Ledger, Signer, connect

DEFAULT_RPC_PORT = 8545
DEFAULT_IPFS_PORT = 15001  # not Kubo's 5001, so a user's own IPFS node keeps its port


@dataclass(frozen=True)
class DevnetConfig:
    state_file: Path
    rpc_port: int = DEFAULT_RPC_PORT
    ipfs_port: int = DEFAULT_IPFS_PORT
    fresh: bool = False

    @property
    def home(self) -> Path:
        return self.state_file.parent

    @property
    def chain_state(self) -> Path:
        return self.home / "chain" / "state.json"


def _read(state_file: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(state_file.read_text())
        return data
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write(state_file: Path, state: dict[str, Any]) -> None:
    state_file.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(state_file, (json.dumps(state, indent=2, sort_keys=True) + "\n").encode(), error=DevnetError)


def _running(state: dict[str, Any] | None) -> dict[str, int]:
    """The recorded daemons that still run and are still the processes `up` started."""
    if not state:
        return {}
    identities = state.get("identities", {})
    return {
        name: int(pid)
        for name, pid in state.get("pids", {}).items()
        if processes.is_ours(int(pid), identities.get(name)) and identities.get(name)
    }


def _archive_chain(config: DevnetConfig) -> str | None:
    """Move the recorded chain aside (``--fresh`` must not destroy a chain without a word); return where to."""
    if not config.chain_state.exists():
        config.chain_state.with_suffix(".json.good").unlink(missing_ok=True)
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    archive = config.chain_state.parent / "archive" / f"state-{stamp}.json"
    archive.parent.mkdir(parents=True, exist_ok=True)
    os.replace(config.chain_state, archive)
    config.chain_state.with_suffix(".json.good").unlink(missing_ok=True)
    return str(archive)


def up(config: DevnetConfig, on_progress: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Start both daemons, wait until they answer, reuse (or deploy) the contract, write the state file."""
    recorded = previous = _read(config.state_file)
    if running := _running(previous):
        which = ", ".join(f"{name} pid {pid}" for name, pid in sorted(running.items()))
        raise DevnetError(
            f"a devnet is already running ({which}; state {config.state_file}); "
            "use it, or stop it first with `fedledger devnet down`"
        )
    archived = None
    if config.fresh:
        archived = _archive_chain(config)
        previous = None
    processes.ensure_port_free(config.rpc_port, "chain node")
    processes.ensure_port_free(config.ipfs_port, "IPFS daemon API")
    logs = {"chain": config.home / "chain.log", "ipfs": config.home / "ipfs.log"}
    has_state, found = usable_state(config.chain_state)
    pids: dict[str, int] = {}
    started = time.perf_counter()
    try:
        on_progress(f"starting the chain node on 127.0.0.1:{config.rpc_port} ({found})")
        pids["chain"], rpc_url, chain_id = start_chain_node(
            config.rpc_port, logs["chain"], config.chain_state
        )
        on_progress(f"starting the IPFS daemon on 127.0.0.1:{config.ipfs_port}")
        ipfs = IpfsDaemon(config.home / "ipfs", config.ipfs_port)
        ipfs.init()
        if recorded and recorded.get("pids", {}).get("ipfs") and ipfs.clear_stale_lock():
            on_progress("removed the lock a crashed IPFS daemon left on its repository")
        pids["ipfs"] = ipfs.start(logs["ipfs"])
        ipfs.wait_ready(timeout=60.0)
        w3 = connect(rpc_url)
        ledger, deploy_block, recovered = _contract(w3, previous if has_state else None, found, on_progress)
        if recovered or not has_state:
            keep_good_copy(config.chain_state)  # the chain loaded and holds its contract: a good copy now
    except BaseException:
        for pid in pids.values():
            processes.stop(pid)
        raise
    state = {
        "rpc_url": rpc_url,
        "chain_id": chain_id,
        "contract_address": ledger.address,
        "deploy_block": deploy_block,
        "ipfs_api": ipfs.api_url,
        "pids": pids,
        "identities": {name: processes.identity(pid) for name, pid in pids.items()},
        "logs": {k: str(v) for k, v in logs.items()},
        "chain_state": str(config.chain_state),
        "ipfs_repo": str(config.home / "ipfs"),
        "started_at": int(time.time()),
        "startup_seconds": round(time.perf_counter() - started, 2),
        "recovered": recovered,
        "archived_chain": archived,
    }
    _write(config.state_file, state)
    return state


def _contract(
    w3: Any, previous: dict[str, Any] | None, found: str, on_progress: Callable[[str], None]
) -> tuple[Ledger, int, dict[str, Any] | None]:
    """The recorded contract when the loaded chain still holds it, else a fresh deployment."""
    if previous and previous.get("contract_address"):
        try:
            ledger = Ledger(w3, previous["contract_address"], from_block=int(previous.get("deploy_block", 0)))
        except ChainError:
            on_progress("the recorded contract is not on the loaded chain: deploying a new one")
        else:
            recovered = {
                "block_height": int(w3.eth.block_number),
                "tasks": ledger.task_count(),
                "contract_address": ledger.address,
                "note": found,
            }
            return ledger, int(previous.get("deploy_block", 0)), recovered
    on_progress("deploying the round contract")
    ledger, tx = Ledger.deploy(w3, Signer(w3.eth.accounts[0]))
    return ledger, tx.block_number, None


def status(state_file: Path) -> dict[str, Any]:
    """Health of each recorded process and endpoint; raises DevnetError if there is no state file."""
    state = _read(state_file)
    if state is None:
        raise DevnetError(f"no devnet state at {state_file}: start one with `fedledger devnet up`")
    running = _running(state)
    pids = state.get("pids", {})
    chain_id = rpc_answers(state["rpc_url"])
    try:
        ipfs_version = requests.post(f"{state['ipfs_api']}/api/v0/version", timeout=3).json().get("Version")
    except (requests.RequestException, ValueError):
        ipfs_version = None
    contract_ok = False
    if chain_id is not None:
        contract_ok = bool(connect(state["rpc_url"]).eth.get_code(state["contract_address"]))
    chain_state = Path(state.get("chain_state", state_file.parent / "chain" / "state.json"))
    saved = chain_state.stat().st_mtime if chain_state.exists() else None
    report: dict[str, Any] = {
        "state_file": str(state_file),
        "chain": {
            "pid": pids.get("chain"),
            "alive": "chain" in running,
            "rpc_url": state["rpc_url"],
            "chain_id": chain_id,
            "block_height": block_height(state["rpc_url"]) if chain_id is not None else None,
            "state": str(chain_state),
            "saved_seconds_ago": round(time.time() - saved, 1) if saved else None,
        },
        "ipfs": {
            "pid": pids.get("ipfs"),
            "alive": "ipfs" in running,
            "ipfs_api": state["ipfs_api"],
            "version": ipfs_version,
            "repo": state.get("ipfs_repo"),
        },
        "contract": {"address": state["contract_address"], "deployed": contract_ok},
    }
    report["healthy"] = bool(chain_id is not None and ipfs_version and contract_ok)
    return report


def down(state_file: Path) -> dict[str, str]:
    """Stop the daemons `up` started (only if they are still the same processes) and keep every file.

    Returns, per daemon, ``stopped``, ``already gone``, or ``not ours`` (the PID now belongs to another process,
    e.g. after a reboot: it is left alone).
    """
    state = _read(state_file)
    if state is None:
        raise DevnetError(f"no devnet state at {state_file}: nothing to stop")
    identities = state.get("identities", {})
    result: dict[str, str] = {}
    for name, pid in state.get("pids", {}).items():
        if not processes.is_alive(int(pid)):
            result[name] = "already gone"
        elif not identities.get(name) or processes.identity(int(pid)) != identities[name]:
            result[name] = "not ours"
        else:
            processes.stop(int(pid))
            result[name] = "stopped"
    chain_state = Path(state.get("chain_state", state_file.parent / "chain" / "state.json"))
    if result.get("chain") == "stopped" and chain_state.exists():
        keep_good_copy(chain_state)  # anvil dumped its state on exit: keep a good copy of it
    _write(state_file, {**state, "pids": {}, "identities": {}, "stopped_at": int(time.time())})
    return result
