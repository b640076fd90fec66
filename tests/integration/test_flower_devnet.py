"""The Flower example, run with Flower's simulation engine, anchored on the real devnet (anvil + js-ipfs); then an
auditor's `fedledger audit verify` agrees from the chain and IPFS alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from devnet_fixtures import ROOT, Devnet

pytestmark = pytest.mark.integration
pytest.importorskip("flwr", reason="the [flower] extra (make test installs it)")


def test_the_flower_example_anchors_every_round_on_the_devnet(devnet: Devnet, tmp_path: Path) -> None:
    # Execute: the example exactly as a user runs it, pointed at the devnet
    result = tmp_path / "result.json"
    env = devnet.env(FLWR_TELEMETRY_ENABLED="0", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [
            sys.executable,
            "run.py",
            "--devnet",
            "--clients",
            "4",
            "--rounds",
            "2",
            "--result-file",
            str(result),
        ],
        cwd=ROOT / "examples" / "flower",
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0 and result.exists(), done.stderr[-3000:]
    summary = json.loads(result.read_text())
    task = str(summary["task_id"])
    audited = devnet.cli_json("audit", "verify", "--task", task, "--no-cache")
    history = devnet.cli_json("audit", "history", "--task", task)
    # Assert
    assert summary["audit"]["ok"] is True and audited["ok"] is True and audited["verified_rounds"] == 2
    rounds = history["tasks"][0]["rounds"]
    assert [len(r["included"]) for r in rounds[:2]] == [4, 4]
    assert {s["participant"] for s in rounds[0]["submissions"]} == set(
        devnet.cli_json("participant", "list", "--task", task)["participants"]
    )
    assert os.path.exists(devnet.state_file)
