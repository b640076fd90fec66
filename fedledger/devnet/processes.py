"""Background daemons for the devnet: Node 22 lookup, loopback port checks, detached start, liveness, stop.

Shared by the anvil chain and the js-ipfs daemon. Daemons run detached in their own session (process group), so
they outlive the `fedledger devnet up` that started them, and `devnet down` can stop exactly that group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections import deque
from pathlib import Path

from fedledger.exceptions import DevnetError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def node_bin_dir() -> Path:
    """Directory of a Node >= 22.13 (scripts/node-bin.sh installs one from npm when the system's is older)."""
    script = PROJECT_ROOT / "scripts" / "node-bin.sh"
    if not script.exists():
        raise DevnetError(f"{script} is missing: the devnet runs from a checkout of the fedledger repository")
    done = subprocess.run([str(script)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DevnetError(f"no usable Node.js >= 22.13: {done.stderr.strip()}")
    return Path(done.stdout.strip())


def node_env(**extra: str) -> dict[str, str]:
    """The environment for Node tools: Node 22 first on PATH, CI mode so nothing prompts, no colour codes."""
    env = dict(os.environ)
    env["PATH"] = f"{node_bin_dir()}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("CI", "true")
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def find_free_port() -> int:
    """A loopback TCP port that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_port_free(port: int, what: str) -> None:
    """Raise DevnetError if 127.0.0.1:``port`` cannot be bound, before a daemon dies on it obscurely."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Node does: TIME_WAIT is not "in use"
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise DevnetError(
                f"port {port} on 127.0.0.1 is already in use ({exc.strerror}), so the {what} cannot start there. "
                "Is a devnet already running (`fedledger devnet down`)? Or pick another port."
            ) from None


def spawn(
    command: list[str], log_path: Path, env: dict[str, str], cwd: Path = PROJECT_ROOT
) -> subprocess.Popen[bytes]:
    """Start ``command`` detached: own session, stdin closed, stdout and stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def is_alive(pid: int, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """Whether ``pid`` runs (not exited, not a zombie); reaps it if it is our child."""
    if pid <= 0:
        return False
    if proc is not None and proc.pid == pid:
        return proc.poll() is None
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished:
            return False
    except ChildProcessError:
        pass  # not our child: its parent (or init) reaps it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie someone else has not reaped yet still answers kill(0)
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def identity(pid: int) -> str | None:
    """What makes ``pid`` this very process: its start time (in clock ticks since boot) and its command line.

    A PID from a state file written before a reboot, or before the daemon died, may now belong to anything else;
    comparing identities before signalling keeps `devnet down` from killing a stranger's process.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    start_time = stat.rsplit(")", 1)[1].split()[19]  # field 22 of stat, counted after the ")" of the name
    return f"{start_time} {cmdline.strip()}"


def is_ours(pid: int, expected: str | None) -> bool:
    """Whether ``pid`` runs and is still the process recorded as ``expected`` (its identity at start-up)."""
    return pid > 0 and is_alive(pid) and (expected is None or identity(pid) == expected)


def stop(pid: int, timeout: float = 10.0, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """SIGTERM ``pid`` (its whole group when it leads one), SIGKILL after ``timeout``; return whether it ran."""
    if not is_alive(pid, proc):
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while is_alive(pid, proc) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not is_alive(pid, proc):
            break
    return True


def log_tail(log_path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a daemon's log, for error messages."""
    try:
        with open(log_path, errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip()
    except FileNotFoundError:
        return "(no log written)"
