"""A real devnet for integration tests, started the way users start it: `fedledger devnet up` in a subprocess.

Each test module gets its own devnet (own state file, free ports, own IPFS repo) and `fedledger devnet down` at
the end; the helper ``cli`` runs any `fedledger` command as a separate process against it, like a participant or
an aggregator on another machine would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FEDLEDGER = [sys.executable, "-m", "fedledger"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Devnet:
    state_file: Path
    state: dict[str, Any]

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ, FEDLEDGER_STATE=str(self.state_file), CI="true")
        env["FEDLEDGER_AUDIT_CACHE"] = str(self.state_file.parent / "verified-rounds.json")
        env["FEDLEDGER_AUDIT_CACHE_KEY"] = str(self.state_file.parent / "audit-cache.key")
        env.pop("FEDLEDGER_RPC_URL", None)
        env.pop("FEDLEDGER_CONTRACT", None)
        env.pop("FEDLEDGER_IPFS_API", None)
        env.update(extra)
        return env

    def cli(
        self, *args: str, check: bool = True, timeout: float = 300, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run `fedledger ARGS` as its own process; with check, fail the test showing stderr."""
        done = subprocess.run(
            [*FEDLEDGER, *args],
            cwd=ROOT,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            pytest.fail(f"fedledger {' '.join(args)} exited {done.returncode}:\n{done.stderr}\n{done.stdout}")
        return done

    def cli_json(self, *args: str, **env: str) -> Any:
        return json.loads(self.cli(*args, "--json", **env).stdout)

    def rpc(self, method: str, *params: Any) -> Any:
        import requests

        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        return requests.post(self.state["rpc_url"], json=body, timeout=10).json().get("result")


def start_devnet(tmp: Path) -> Devnet:
    if not (ROOT / "node_modules" / ".bin" / "hardhat").exists():
        pytest.skip("node_modules is missing: run `make setup` (the README's `make test` does)")
    state_file = tmp / "devnet.json"
    devnet = Devnet(state_file, {})
    done = devnet.cli(
        "devnet", "up", "--rpc-port", str(free_port()), "--ipfs-port", str(free_port()), "--json", timeout=180
    )
    devnet.state = json.loads(done.stdout)
    return devnet
