"""A real devnet for integration tests, started the way users start it: `fedledger devnet up` in a subprocess.

One devnet serves every test of a pytest session (one per xdist worker; see conftest.py); a test that stops,
crashes or restarts its chain starts one of its own with ``start_devnet``. Two ways to run `fedledger` against it:

* ``cli`` / ``cli_json``: a separate process, like a participant or an aggregator on another machine would;
* ``invoke`` / ``invoke_json``: the same typer app called in this process (no interpreter start-up, ~3 s less a
  call), for argument validation, error lines and set-up steps that are not themselves what a test checks.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fedledger.devnet.ipfs_daemon import IpfsDaemon

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
        env.pop("FEDLEDGER_PRIVATE_KEY", None)
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

    def invoke(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        """Run `fedledger ARGS` in this process (typer's CliRunner) with the environment ``cli`` would give it.

        Returns what ``cli`` returns; an exception escaping the app shows up as a ``Traceback`` in stderr, as it
        would from a real process."""
        from typer.testing import CliRunner

        from fedledger.cli.app import app

        full = self.env(**env)
        unset: dict[str, str | None] = {k: None for k in os.environ if k not in full}
        result = CliRunner().invoke(app, list(args), env={**full, **unset}, prog_name="fedledger")
        stderr = result.stderr
        code = result.exit_code
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            assert result.exc_info is not None
            stderr += "Traceback (most recent call last):\n" + "".join(
                traceback.format_exception(*result.exc_info)
            )
            code = code or 1
        done = subprocess.CompletedProcess(["fedledger", *args], code, result.stdout, stderr)
        if check and done.returncode != 0:
            pytest.fail(
                f"fedledger {shlex.join(args)} exited {done.returncode}:\n{done.stderr}\n{done.stdout}"
            )
        return done

    def invoke_json(self, *args: str, **env: str) -> Any:
        return json.loads(self.invoke(*args, "--json", **env).stdout)

    def rpc(self, method: str, *params: Any) -> Any:
        import requests

        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        return requests.post(self.state["rpc_url"], json=body, timeout=10).json().get("result")

    @contextmanager
    def ipfs_stopped(self) -> Iterator[None]:
        """Stop the devnet's IPFS daemon for the ``with`` block, then start it again on the same repo and port
        (and record its new PID in the state file, so that `devnet down` stops it). Safe to use more than once."""
        state = json.loads(self.state_file.read_text())
        daemon = IpfsDaemon(self.state_file.parent / "ipfs", int(state["ipfs_api"].rsplit(":", 1)[1]))
        daemon.stop(state["pids"]["ipfs"])
        try:
            yield
        finally:
            pid = daemon.start(self.state_file.parent / "ipfs-restart.log")
            daemon.wait_ready(timeout=60)
            state = json.loads(self.state_file.read_text())
            state["pids"]["ipfs"] = pid
            self.state_file.write_text(json.dumps(state))
            self.state["pids"] = state["pids"]


def start_devnet(tmp: Path) -> Devnet:
    """`fedledger devnet up` on free ports with its state in ``tmp``; stop it with ``stop_devnet``."""
    if not (ROOT / "node_modules" / ".bin" / "hardhat").exists():
        pytest.skip("node_modules is missing: run `make setup` (the README's `make test` does)")
    state_file = tmp / "devnet.json"
    devnet = Devnet(state_file, {})
    done = devnet.cli(
        "devnet", "up", "--rpc-port", str(free_port()), "--ipfs-port", str(free_port()), "--json", timeout=180
    )
    devnet.state = json.loads(done.stdout)
    return devnet


def stop_devnet(net: Devnet) -> None:
    net.cli("devnet", "down", check=False)
