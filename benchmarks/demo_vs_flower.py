"""`fedledger demo --dataset digits` against Flower running the identical workload, side by side, repeated.

The demo (embedded chain and store; every participant trains, uploads and registers; the aggregator fetches,
checks, aggregates and finalizes; the global model is evaluated; the history is audited at the end) against
Flower 1.42's `run_simulation` of `benchmarks/flower_matched_app.py` (same data, split, initial model, local
training, FedAvg and per-round evaluation; nothing anchored). Steady = median seconds of rounds 2 onwards (round
1 pays Flower's Ray start-up). Final accuracies must agree: the same training in both. Rewrites the
`demo-vs-flower` section of BENCHMARKS.md. `python benchmarks/demo_vs_flower.py [--clients 10 50] [--rounds 5]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import machine, table, write_section  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parents[1]
FLOWER = """
import sys
from flwr.simulation import run_simulation
import flower_matched_app as app
run_simulation(server_app=app.server, client_app=app.client, num_supernodes=int(sys.argv[1]),
               backend_config={"client_resources": {"num_cpus": 2, "num_gpus": 0.0}})
"""


def flower(clients: int, rounds: int) -> dict[str, float]:
    """One Flower simulation: steady seconds per round, total seconds, final accuracy."""
    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / "result.json"
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([str(ROOT / "benchmarks"), str(ROOT)]),
            FLWR_TELEMETRY_ENABLED="0",
            RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO="0",
            FEDLEDGER_NUM_CLIENTS=str(clients),
            FEDLEDGER_NUM_SERVER_ROUNDS=str(rounds),
            FEDLEDGER_RESULT_FILE=str(result),
        )
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", FLOWER, str(clients)],
            env=env, cwd=scratch, capture_output=True, text=True, timeout=1800, check=False,
        )  # fmt: skip
        total = time.perf_counter() - started
        if done.returncode != 0 or not result.exists():
            raise RuntimeError(f"Flower failed: {done.stderr[-2000:]}")
        data = json.loads(result.read_text())
    ends = [*data["round_starts"][1:], data["finished"]]
    per_round = [b - a for a, b in zip(data["round_starts"], ends, strict=True)]
    return {
        "steady": statistics.median(per_round[1:]),
        "total": total,
        "accuracy": data["accuracy"][str(rounds)],
    }


def demo(clients: int, rounds: int) -> dict[str, float]:
    """One `fedledger demo --dataset digits` process: steady seconds per round, total seconds, final accuracy."""
    command = [
        sys.executable,
        "-m",
        "fedledger",
        "demo",
        "--dataset",
        "digits",
        "--participants",
        str(clients),
    ]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "--rounds", str(rounds), "--json"], cwd=ROOT, capture_output=True, text=True, timeout=1800,
        check=False,
    )  # fmt: skip
    total = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"demo failed: {done.stdout[-1000:]} {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    seconds = [r["seconds"] for r in report["rounds"]]
    assert report["audit"]["ok"], report["audit"]
    return {
        "steady": statistics.median(seconds[1:]),
        "total": total,
        "accuracy": report["rounds"][-1]["metric"]["value"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[4, 10, 50])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for clients in args.clients:
        runs: dict[str, list[dict[str, float]]] = {"flower": [], "demo": []}
        for _ in range(args.repeats):
            for kind, run in (("flower", flower), ("demo", demo)):  # interleaved: both see the same load
                runs[kind].append(run(clients, args.rounds))
                print(kind, clients, runs[kind][-1], flush=True)
        med = {
            k: {m: statistics.median(r[m] for r in v) for m in ("steady", "total", "accuracy")}
            for k, v in runs.items()
        }
        rows.append(
            [
                clients,
                f"{med['flower']['steady']:.2f}",
                f"{med['demo']['steady']:.2f}",
                f"{med['demo']['steady'] / med['flower']['steady']:.2f}",
                f"{med['flower']['total']:.1f}",
                f"{med['demo']['total']:.1f}",
                f"{med['demo']['total'] / med['flower']['total']:.2f}",
                f"{med['flower']['accuracy']:.3f} / {med['demo']['accuracy']:.3f}",
            ]
        )
    write_section(
        "demo-vs-flower",
        "## fedledger demo against Flower on the same workload\n\n"
        f"`python benchmarks/demo_vs_flower.py` ({machine()}; median of {args.repeats}, runs interleaved). "
        f"`fedledger demo --dataset digits` ({args.rounds} rounds: training, upload, registration, fetch, checks, "
        "aggregation, finalization and evaluation every round, the audit at the end) against Flower 1.42's "
        "`run_simulation` of `benchmarks/flower_matched_app.py` (the same data, split, model, local training, "
        "FedAvg and per-round evaluation, nothing anchored). Steady = median seconds of rounds 2 onwards; total "
        "= the whole process.\n\n"
        + table(
            [
                "clients",
                "Flower s/round",
                "demo s/round",
                "ratio",
                "Flower total s",
                "demo total s",
                "ratio",
                "final accuracy Flower / demo",
            ],
            rows,
        ),
    )
    print(rows)


if __name__ == "__main__":
    main()
