"""A Flower simulation (4 clients, 3 rounds, Flower's own engine) anchored on the embedded chain and store.

One simulation shows both sides: the audit passes every round, and the one client that registers something other
than what it uploads and replies is excluded as `digest_mismatch` (the three honest ones never are). Strategies without a deterministic counterpart are
refused with the list of those that work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("flwr", reason="the [flower] extra (make test installs it)")
from flwr.serverapp.strategy import FedAdam, FedAvg, FedMedian, FedTrimmedAvg, MultiKrum

from fedledger.exceptions import ConfigurationError
from fedledger.flower import flower_spec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "flower"
RUN = """
import sys
from flwr.simulation import run_simulation
from fedledger_flower_example.server_app import app as server_app
client_app = __import__(sys.argv[1], fromlist=["app"]).app
run_simulation(server_app=server_app, client_app=client_app, num_supernodes=4,
               backend_config={"client_resources": {"num_cpus": 2, "num_gpus": 0.0}})
"""


def simulate(tmp_path: Path, client_module: str) -> dict[str, object]:
    """Run the example's ServerApp with ``client_module``'s ClientApp under run_simulation; return its summary."""
    result = tmp_path / "result.json"
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(EXAMPLE), str(Path(__file__).parent), str(ROOT)]),
        FLWR_TELEMETRY_ENABLED="0",
        RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO="0",
        FEDLEDGER_RPC_URL="embedded",
        FEDLEDGER_NUM_CLIENTS="4",
        FEDLEDGER_NUM_SERVER_ROUNDS="3",
        FEDLEDGER_RESULT_FILE=str(result),
        FEDLEDGER_STORE_DIR=str(tmp_path / "store"),
    )
    done = subprocess.run(
        [sys.executable, "-c", RUN, client_module],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0 and result.exists(), done.stderr[-3000:]
    summary: dict[str, object] = json.loads(result.read_text())
    return summary


def test_an_anchored_flower_run_audits_ok_and_excludes_the_client_registering_something_else(
    tmp_path: Path,
) -> None:
    # Execute: one simulation, three honest clients and one liar (the honest path alone runs on the devnet in
    # tests/integration/test_flower_devnet.py, with the example's own ClientApp)
    summary = simulate(tmp_path, "liar_app")
    # Assert: every round verifies; Flower's own evaluate_fn still runs and the federation learns
    assert summary["audit"] == {"ok": True, "status": "ok", "verified_rounds": 3}
    assert [verdict for _, verdict, _ in summary["verdicts"]] == ["OK", "OK", "OK", "OPEN"]  # type: ignore[union-attr]
    accuracy = summary["accuracy"]
    assert accuracy["3"] > accuracy["0"] + 0.5  # type: ignore[index]
    # Assert: the liar, and only the liar, is excluded as digest_mismatch and reported, in every round
    outcomes = summary["outcomes"]
    assert sorted(outcomes) == ["1", "2", "3"]  # type: ignore[call-overload]
    assert all(reasons == [[reasons[0][0], "digest_mismatch"]] for reasons in outcomes.values())  # type: ignore[union-attr]
    assert len({reasons[0][0] for reasons in outcomes.values()}) == 1  # type: ignore[union-attr]
    mismatches = summary["reply_mismatches"]
    assert sorted(mismatches) == ["1", "2", "3"]  # type: ignore[call-overload]
    assert all(len(m) == 1 and "differs from what it registered" in m[0] for m in mismatches.values())  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("strategy", "spec"),
    [
        (FedAvg(), "fedavg"),
        (FedMedian(), "median"),
        (FedTrimmedAvg(beta=0.2), "trimmed_mean:beta=0.2"),
        (MultiKrum(num_malicious_nodes=1, num_nodes_to_select=3), "multikrum:f=1,m=3"),
    ],
)
def test_flower_strategies_map_onto_fedledger_rules(strategy: object, spec: str) -> None:
    assert flower_spec(strategy) == spec  # type: ignore[arg-type]


def test_a_stateful_strategy_is_refused_naming_those_that_work() -> None:
    with pytest.raises(
        ConfigurationError, match=r"FedAdam has no deterministic counterpart.*FedAvg, FedProx, FedMedian"
    ):
        flower_spec(FedAdam())
