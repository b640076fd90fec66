"""The example's `run.py --devnet` without a devnet to find ends in one line that says what to do, not a trace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("flwr", reason="the [flower] extra (make test installs it)")

ROOT = Path(__file__).resolve().parents[2]


def test_run_py_devnet_without_a_devnet_is_one_clear_line(tmp_path: Path) -> None:
    # Prepare: point the lookup at a state file that does not exist
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDLEDGER_")}
    env.update(
        FEDLEDGER_STATE=str(tmp_path / "devnet.json"), PYTHONPATH=str(ROOT), FLWR_TELEMETRY_ENABLED="0"
    )
    # Execute
    done = subprocess.run(
        [sys.executable, "run.py", "--devnet", "--rounds", "1"],
        cwd=ROOT / "examples" / "flower",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Assert
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: no chain configured") and str(tmp_path / "devnet.json") in line
