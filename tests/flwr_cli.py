"""Running Flower's own `flwr` command against the example app, for the Flower and integration suites."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "flower"
BIN = Path(sys.executable).parent  # flwr, flower-superlink and flower-supernode of this environment


def flwr(env: dict[str, str], *args: str) -> Any:
    """`flwr ARGS --format json` from the example's folder; its JSON answer (the test fails on anything else)."""
    done = subprocess.run(
        [str(BIN / "flwr"), *args, "--format", "json"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"flwr {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
