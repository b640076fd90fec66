"""Start a Hardhat 3 node (`hardhat node`) from the project's hardhat.config.js, on loopback.

The node runs detached (see fedledger.devnet.processes); its pid goes into the devnet state file, and `devnet down`
stops exactly that process group.
"""

from __future__ import annotations

import time
from pathlib import Path

import requests

from fedledger.devnet import processes
from fedledger.exceptions import DevnetError


def rpc_answers(rpc_url: str, timeout: float = 2.0) -> int | None:
    """Return the chain id if a JSON-RPC node answers at ``rpc_url``, else None."""
    try:
        response = requests.post(
            rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=timeout
        )
        return int(response.json()["result"], 16)
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None


def start_hardhat_node(port: int, log_path: Path, timeout: float = 60.0) -> tuple[int, str, int]:
    """Start `hardhat node` on 127.0.0.1:``port``; return (pid, rpc_url, chain_id) once it answers."""
    processes.ensure_port_free(port, "Hardhat node")
    hardhat = processes.PROJECT_ROOT / "node_modules" / ".bin" / "hardhat"
    if not hardhat.exists():
        raise DevnetError(
            "Hardhat is not installed: run `make setup` (npm ci) in the fedledger checkout first"
        )
    env = processes.node_env(HARDHAT_DISABLE_TELEMETRY_PROMPT="true")
    proc = processes.spawn(
        [str(hardhat), "node", "--hostname", "127.0.0.1", "--port", str(port)], log_path, env
    )
    rpc_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chain_id = rpc_answers(rpc_url)
        if chain_id is not None:
            return proc.pid, rpc_url, chain_id
        if not processes.is_alive(proc.pid, proc):
            raise DevnetError(
                f"the Hardhat node exited during start-up; last lines of {log_path}:\n{processes.log_tail(log_path)}"
            )
        time.sleep(0.3)
    processes.stop(proc.pid, proc=proc)
    raise DevnetError(f"the Hardhat node did not answer within {timeout:.0f} s; see {log_path}")
