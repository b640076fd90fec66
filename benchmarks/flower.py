"""The same Flower simulation with and without anchoring, side by side, repeated: per-round and total time.

`examples/flower` (digits MLP, 3 local epochs) under `flwr.simulation.run_simulation`: plain FedAvg against
`Anchored(FedAvg)` with every client registering through `ledger_mod`, on the embedded default. Rounds after the
first are the steady state (the first pays Ray's start-up). Rewrites the `flower` section of BENCHMARKS.md.
`python benchmarks/flower.py [--clients 4] [--rounds 5] [--repeats 3]`.
"""

from __future__ import annotations

import argparse
import itertools
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
EXAMPLE = ROOT / "examples" / "flower"
RUN = """
import sys
from flwr.simulation import run_simulation
module = __import__(sys.argv[1], fromlist=["x"])
run_simulation(server_app=getattr(module, sys.argv[2]), client_app=getattr(__import__(sys.argv[3], fromlist=["x"]), sys.argv[4]),
               num_supernodes=int(sys.argv[5]), backend_config={"client_resources": {"num_cpus": 2, "num_gpus": 0.0}})
"""
KINDS = {
    "plain Flower": (
        "fedledger_flower_example.plain_app",
        "server",
        "fedledger_flower_example.plain_app",
        "client",
    ),
    "anchored": ("fedledger_flower_example.server_app", "app", "fedledger_flower_example.client_app", "app"),
}


def once(kind: str, clients: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / "result.json"
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([str(EXAMPLE), str(ROOT)]),
            FLWR_TELEMETRY_ENABLED="0",
            RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO="0",
            FEDLEDGER_RPC_URL="embedded",
            FEDLEDGER_NUM_CLIENTS=str(clients),
            FEDLEDGER_NUM_SERVER_ROUNDS=str(rounds),
            FEDLEDGER_RESULT_FILE=str(result),
            FEDLEDGER_STORE_DIR=str(Path(scratch) / "store"),
        )
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", RUN, *KINDS[kind], str(clients)],
            env=env,
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        total = time.perf_counter() - started
        if done.returncode != 0 or not result.exists():
            raise RuntimeError(f"{kind} failed: {done.stderr[-2000:]}")
        data = json.loads(result.read_text())
    per_round = [b - a for a, b in itertools.pairwise(data["round_starts"])]  # round r = start r -> start r+1
    accuracy = data["accuracy"]
    return {
        "total": total,
        "steady": statistics.median(per_round[1:]),
        "first": per_round[0],
        "accuracy": accuracy[str(rounds)]
        if isinstance(accuracy, dict) and str(rounds) in accuracy
        else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[4, 10])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for clients in args.clients:
        runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
        for _ in range(args.repeats):
            for kind in KINDS:  # interleaved, so both see the same machine load
                runs[kind].append(once(kind, clients, args.rounds))
                print(kind, clients, runs[kind][-1], flush=True)
        med = {
            k: {m: statistics.median(r[m] for r in v) for m in ("total", "steady", "first", "accuracy")}
            for k, v in runs.items()
        }
        rows.append(
            [
                clients,
                f"{med['plain Flower']['steady']:.2f}",
                f"{med['anchored']['steady']:.2f}",
                f"{med['anchored']['steady'] / med['plain Flower']['steady']:.2f}",
                f"{med['plain Flower']['total']:.1f}",
                f"{med['anchored']['total']:.1f}",
                f"{med['anchored']['total'] / med['plain Flower']['total']:.2f}",
                f"{med['plain Flower']['accuracy']:.3f} / {med['anchored']['accuracy']:.3f}",
            ]
        )
    write_section(
        "flower",
        "## Flower with and without anchoring\n\n"
        f"`python benchmarks/flower.py` ({machine()}; median of {args.repeats}, runs interleaved). "
        f"`examples/flower` (digits MLP, 3 local epochs, {args.rounds} rounds) under Flower 1.42's "
        "`run_simulation`; anchored = `ledger_mod` on every client and `Anchored(FedAvg)` on the server, on the "
        "embedded default (the chain served to the Ray actors over loopback). Steady = median time of rounds 2 "
        "onwards (round 1 pays Ray's start-up; the last round is left out, since the anchored run then also "
        "audits); total = the whole process, audit included.\n\n"
        + table(
            [
                "clients",
                "plain s/round",
                "anchored s/round",
                "ratio",
                "plain total s",
                "anchored total s",
                "ratio",
                "final accuracy plain / anchored",
            ],
            rows,
        ),
    )
    print(rows)


if __name__ == "__main__":
    main()
