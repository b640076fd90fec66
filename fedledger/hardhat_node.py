"""Start and stop a Hardhat 3 node (`npx hardhat node`) from the project's hardhat.config.js, on loopback.

The node runs detached in its own session so it outlives the `fedledger devnet up` process; its pid goes into the
devnet state file, and `devnet down` stops exactly that process group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

from fedledger.exceptions import DevnetError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def node_bin_dir() -> Path:
    """Directory of a Node >= 22.13 (scripts/node-bin.sh installs one from npm when the system's is older)."""
    script = PROJECT_ROOT / "scripts" / "node-bin.sh"
    if not script.exists():
        raise DevnetError(f"{script} is missing: the devnet runs from a checkout of the fedledger repository")
    done = subprocess.run([str(script)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DevnetError(f"no usable Node.js >= 22.13: {done.stderr.strip()}")
    return Path(done.stdout.strip())


def node_env() -> dict[str, str]:
    """The environment for Node tools: Node 22 first on PATH, CI mode so nothing prompts."""
    env = dict(os.environ)
    env["PATH"] = f"{node_bin_dir()}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("CI", "true")
    env["HARDHAT_DISABLE_TELEMETRY_PROMPT"] = "true"
    return env


def ensure_port_free(port: int, what: str) -> None:
    """Raise DevnetError if something already listens on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise DevnetError(
                f"port {port} on 127.0.0.1 is already in use, so the {what} cannot start there. "
                f"Stop whatever holds it (`fedledger devnet down` if it is ours) or pick another port."
            ) from None


def spawn(command: list[str], log_path: Path, env: dict[str, str]) -> int:
    """Start ``command`` detached (own session, stdin closed, output to ``log_path``); return its pid."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process.pid


def is_alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        os.waitpid(pid, os.WNOHANG)  # reap our own child if it died
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.split(") ", 1)[1][0] != "Z"
    except (ChildProcessError, FileNotFoundError, IndexError):
        return Path(f"/proc/{pid}").exists()


def stop(pid: int, timeout: float = 10.0) -> bool:
    """Stop the process group led by ``pid`` (SIGTERM, then SIGKILL); return whether it was running."""
    if not is_alive(pid):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True


def log_tail(log_path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"


def rpc_answers(rpc_url: str, timeout: float = 2.0) -> int | None:
    """Return the chain id if a JSON-RPC node answers at ``rpc_url``, else None."""
    try:
        response = requests.post(
            rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=timeout
        )
        return int(response.json()["result"], 16)
    except (requests.RequestException, ValueError, KeyError):
        return None


def start_hardhat_node(port: int, log_path: Path, timeout: float = 60.0) -> tuple[int, str, int]:
    """Start `npx hardhat node` on 127.0.0.1:``port``; return (pid, rpc_url, chain_id) once it answers."""
    ensure_port_free(port, "Hardhat node")
    npx = PROJECT_ROOT / "node_modules" / ".bin" / "hardhat"
    if not npx.exists():
        raise DevnetError(
            "Hardhat is not installed: run `make setup` (npm ci) in the fedledger checkout first"
        )
    pid = spawn([str(npx), "node", "--hostname", "127.0.0.1", "--port", str(port)], log_path, node_env())
    rpc_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chain_id = rpc_answers(rpc_url)
        if chain_id is not None:
            return pid, rpc_url, chain_id
        if not is_alive(pid):
            raise DevnetError(
                f"the Hardhat node exited during start-up; last lines of {log_path}:\n{log_tail(log_path)}"
            )
        time.sleep(0.3)
    stop(pid)
    raise DevnetError(f"the Hardhat node did not answer within {timeout:.0f} s; see {log_path}")
