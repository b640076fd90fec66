"""Run a js-ipfs daemon for the devnet and the integration tests.

Why js-ipfs: no registry reachable here ships the Kubo binary (npm ``kubo``/``go-ipfs`` download it in postinstall),
while js-ipfs ``ipfs@0.66.1`` installs from npm and speaks the same Kubo RPC API, so ``KuboStore`` is exercised
against a real daemon. Users with their own Kubo node never need this module.

The daemon is made private and quiet: API on a loopback port, gateway off (or loopback), gRPC off (its default
port 5003 would collide between two daemons), no swarm listeners, no bootstrap peers or delegates, and it runs
``--offline``. Quirks handled here (js-ipfs 0.18.1 core):

* its repo lock (``repo.lock``) is refreshed every 10 s and goes stale only 20 s after a daemon was SIGKILLed;
  a restart within that window dies with "Lock already being held" (SIGTERM releases it cleanly);
* it writes ``<repo>/api`` while running; a stale one only misleads the ``jsipfs`` CLI, not this module.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

from fedledger.devnet import processes
from fedledger.exceptions import DevnetError
from fedledger.files import write_atomic

__all__ = ["IpfsDaemon", "find_free_port", "project_root"]
find_free_port = processes.find_free_port


def project_root() -> Path:
    """The checkout holding ``package.json`` and ``node_modules`` (the parent of the ``fedledger`` package)."""
    return processes.PROJECT_ROOT


class IpfsDaemon:
    """One js-ipfs daemon with its own repository and ports.

    Parameters
    ----------
    repo:
        The IPFS repository directory (``IPFS_PATH``); created by ``init``. Data survives restarts.
    api_port:
        Loopback port of the RPC API (``http://127.0.0.1:<api_port>``).
    gateway_port:
        Loopback port of the HTTP gateway, or ``None`` to switch the gateway off.
    swarm_port:
        Loopback TCP port for libp2p, or ``None`` for no swarm listener (the daemon runs offline anyway).
    root:
        Project root holding ``node_modules/.bin/jsipfs``; defaults to this checkout.
    """

    def __init__(
        self,
        repo: Path,
        api_port: int,
        gateway_port: int | None = None,
        swarm_port: int | None = None,
        *,
        root: Path | None = None,
    ) -> None:
        self.repo = Path(repo)
        self.api_port = api_port
        self.gateway_port = gateway_port
        self.swarm_port = swarm_port
        self.root = root or project_root()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def api_url(self) -> str:
        """Base URL for ``KuboStore``."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def jsipfs(self) -> Path:
        """The jsipfs CLI, or ``DevnetError`` telling how to install it."""
        path = self.root / "node_modules" / ".bin" / "jsipfs"
        if not path.exists():
            raise DevnetError(f"js-ipfs is not installed ({path} is missing): run `make setup` (npm ci)")
        return path

    def init(self) -> None:
        """Create the repository if it does not exist yet, then (re)write its addresses and peers."""
        if not (self.repo / "config").exists():
            self.repo.mkdir(parents=True, exist_ok=True)
            result = subprocess.run(
                [str(self.jsipfs), "init", "--emptyRepo"],
                check=False,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=120,
            )
            if result.returncode != 0:
                output = (result.stdout + result.stderr).decode(errors="replace")
                raise DevnetError(
                    f"`jsipfs init` failed for {self.repo} (exit {result.returncode}):\n{output}"
                )
        self._write_config()

    def _write_config(self) -> None:
        """Edit the repo's config JSON directly (one write instead of several slow ``jsipfs config`` runs)."""
        path = self.repo / "config"
        config: dict[str, Any] = json.loads(path.read_text())
        addresses = config.setdefault("Addresses", {})
        addresses["API"] = f"/ip4/127.0.0.1/tcp/{self.api_port}"
        addresses["Gateway"] = [] if self.gateway_port is None else f"/ip4/127.0.0.1/tcp/{self.gateway_port}"
        addresses["Swarm"] = [] if self.swarm_port is None else [f"/ip4/127.0.0.1/tcp/{self.swarm_port}"]
        addresses["RPC"] = ""  # gRPC-over-websocket server off: nothing here uses it
        addresses["Delegates"] = []
        config["Bootstrap"] = []
        config.setdefault("Discovery", {})["MDNS"] = {"Enabled": False, "Interval": 10}
        config["Discovery"]["webRTCStar"] = {"Enabled": False}
        write_atomic(path, json.dumps(config, indent=2).encode(), error=DevnetError)

    def clear_stale_lock(self) -> bool:
        """Remove the repo lock a killed daemon left behind; return whether there was one.

        Call only when the daemon recorded for this repo is known to be gone (after a crash): js-ipfs otherwise
        refuses to start for 20 s. Never while a daemon may be running on the repo.
        """
        found = False
        for name in ("repo.lock", "repo.lock.lock"):
            lock = self.repo / name
            if lock.is_dir():
                shutil.rmtree(lock, ignore_errors=True)
                found = True
            elif lock.exists():
                lock.unlink(missing_ok=True)
                found = True
        return found

    def start(self, log_path: Path) -> int:
        """Spawn ``jsipfs daemon --offline`` detached (own session, stdin closed, output to ``log_path``).

        Returns the daemon's pid, to be kept (e.g. in a state file) for ``stop``. Call ``wait_ready`` next.
        """
        jsipfs = self.jsipfs
        if not (self.repo / "config").exists():
            raise DevnetError(f"IPFS repo {self.repo} is not initialised: call init() first")
        processes.ensure_port_free(self.api_port, "IPFS daemon API")
        for role, port in (("gateway", self.gateway_port), ("swarm", self.swarm_port)):
            if port is not None:
                processes.ensure_port_free(port, f"IPFS daemon {role}")
        self._proc = processes.spawn(
            [str(jsipfs), "daemon", "--offline"], log_path, self._env(), cwd=self.root
        )
        self._log_path = log_path
        return self._proc.pid

    def wait_ready(self, timeout: float = 30.0, pid: int | None = None) -> float:
        """Poll ``POST /api/v0/version`` until it answers; return the seconds waited.

        Raises ``DevnetError`` with the end of the daemon's log if the process dies or ``timeout`` passes.
        ``pid`` is only needed when this object did not start the daemon itself.
        """
        began = time.monotonic()
        watched = pid if pid is not None else (self._proc.pid if self._proc else None)
        while True:
            if watched is not None and not processes.is_alive(watched, self._proc):
                raise DevnetError(f"the IPFS daemon (pid {watched}) exited during start-up{self._log_tail()}")
            try:
                requests.post(f"{self.api_url}/api/v0/version", timeout=1.0).raise_for_status()
                return time.monotonic() - began
            except requests.RequestException:
                pass
            if time.monotonic() - began > timeout:
                raise DevnetError(
                    f"the IPFS API at {self.api_url} did not answer within {timeout:g} s{self._log_tail()}"
                )
            time.sleep(0.1)

    def stop(self, pid: int | None = None, timeout: float = 10.0) -> None:
        """SIGTERM the daemon (it releases its repo lock), then SIGKILL if it is still there after ``timeout``."""
        target = pid if pid is not None else (self._proc.pid if self._proc else None)
        if target is None:
            return
        processes.stop(target, timeout, proc=self._proc)
        if self._proc is not None and self._proc.pid == target:
            self._proc = None

    def _env(self) -> dict[str, str]:
        """The environment for jsipfs: this repo, Node 22 first on PATH, no colour codes in the log."""
        return processes.node_env(IPFS_PATH=str(self.repo))

    def _log_tail(self, lines: int = 20) -> str:
        """The last lines of the daemon's log, with a hint for the repo-lock quirk, for error messages."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        tail = processes.log_tail(self._log_path, lines)
        hint = ""
        if "Lock already being held" in tail:
            hint = (
                f"\nAnother daemon uses {self.repo}, or one was killed less than 20 s ago "
                "(js-ipfs treats its repo lock as stale only after 20 s): stop it, or wait and retry."
            )
        return f"; last lines of {self._log_path}:\n{tail}{hint}"
