"""The example's documented simulation command, `flwr run . local`, runs to the end and its audit passes.

Flower starts its local SuperLink itself, detached, and keeps it for later runs; here it lives in a temporary
FLWR_HOME on free ports and is stopped at the end (found by its log path, which only this test uses).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flwr_cli import BIN, flwr

pytest.importorskip("flwr", reason="the [flower] extra (make test installs it)")

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pids_with(marker: str) -> list[int]:
    """Processes whose command line contains ``marker`` (a path unique to this test)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.fixture
def flower_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    home = tmp_path / "flwr-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDLEDGER_")}
    env.update(
        FLWR_HOME=str(home),
        FLWR_LOCAL_SUPERLINK_HTTP_API_PORT=str(free_port()),
        FLWR_LOCAL_CONTROL_API_PORT=str(free_port()),
        FLWR_TELEMETRY_ENABLED="0",
        FLWR_DISABLE_UPDATE_CHECK="1",
        FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION="1",
        RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO="0",
        PYTHONPATH=str(ROOT),
        PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
    )
    try:
        yield env
    finally:
        for pid in pids_with(str(home / "local-superlink")):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # the SuperLink runs in its own session, with its children


def test_flwr_run_local_with_flowers_default_two_nodes_finishes_and_audits_ok(
    tmp_path: Path, flower_env: dict[str, str]
) -> None:
    # Prepare
    result = tmp_path / "result.json"
    config = f'num-server-rounds=1 local-epochs=1 fraction-evaluate=0.0 result-file="{result}"'
    # Execute: the README's command (with a shorter run), then wait for the run to end
    started = flwr(flower_env, "run", ".", "local", "--run-config", config)
    assert started.get("success"), started
    deadline, status = time.monotonic() + 400, ""
    while time.monotonic() < deadline:
        (run,) = flwr(flower_env, "ls", "local", "--run-id", started["run-id"])["runs"]
        if (status := str(run["status"])).startswith("finished"):
            break
        time.sleep(2)
    # Assert
    log = Path(flower_env["FLWR_HOME"], "local-superlink", "superlink.log")
    assert status == "finished:completed" and result.exists(), log.read_text(errors="replace")[-4000:]
    summary = json.loads(result.read_text())
    assert summary["audit"] == {"ok": True, "status": "ok", "verified_rounds": 1}
    assert summary["verdicts"][0][:2] == [1, "OK"] and "2 of 2" in summary["verdicts"][0][2]
