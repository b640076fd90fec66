"""What anchoring a Flower round costs in work, measured inside Flower: the client mod's own time and the Anchored
strategy's, next to plain Flower's round, at 4 and 10 clients.

`benchmarks/flower.py` compares wall time per round, and Flower's simulation moves a round's wall time in steps
of its in-memory grid's reply poll (0.1 s, `flwr.superlink.grid.inmemory_grid.InMemoryGrid.pull_interval`, twice a
round: train and evaluate). This script measures the work itself: ``ledger_mod`` timed inside each Ray actor
(its pre-check, upload and registration; training excluded) and the strategy's anchoring calls timed in the
ServerApp (`configure_train`, `aggregate_train`: the on-chain checks, the coordinator's fetch, validation,
aggregation and finalization). Rewrites the `flower-work` section of BENCHMARKS.md.
`python benchmarks/flower_work.py [--clients 4 10] [--rounds 5]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from report import machine, table, write_section  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parents[1]
RUN = """
import functools, json, sys, time
from flwr.simulation import run_simulation
from fedledger.flower.server import Anchored
import fedledger_flower_example.server_app as server
import flower_timed_client as client
spent = [0.0]
for name in ("configure_train", "aggregate_train"):
    inner = getattr(Anchored, name)
    def timed(*args, _inner=inner, **kwargs):
        begun = time.perf_counter()
        try:
            return _inner(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - begun
    setattr(Anchored, name, timed)
run_simulation(server_app=server.app, client_app=client.app, num_supernodes=int(sys.argv[1]),
               backend_config={"client_resources": {"num_cpus": 2, "num_gpus": 0.0}})
print(json.dumps({"server": spent[0]}))
"""


def once(clients: int, rounds: int) -> dict[str, float]:
    """One anchored simulation: seconds of anchoring work per round, server side and summed over the clients."""
    with tempfile.TemporaryDirectory() as scratch:
        times = Path(scratch) / "client-times.txt"
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(
                [str(ROOT / "benchmarks"), str(ROOT / "examples" / "flower"), str(ROOT)]
            ),
            FLWR_TELEMETRY_ENABLED="0",
            RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO="0",
            FEDLEDGER_RPC_URL="embedded",
            FEDLEDGER_NUM_CLIENTS=str(clients),
            FEDLEDGER_NUM_SERVER_ROUNDS=str(rounds),
            FEDLEDGER_STORE_DIR=str(Path(scratch) / "store"),
            FEDLEDGER_CLIENT_TIMES=str(times),
        )
        done = subprocess.run(
            [sys.executable, "-c", RUN, str(clients)], env=env, cwd=scratch, capture_output=True, text=True,
            timeout=1800, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"anchored run failed: {done.stderr[-2000:]}")
        server = json.loads(done.stdout.strip().splitlines()[-1])["server"]
        client = [float(line) for line in times.read_text().split()]
    return {
        "server": server / rounds,
        "clients": sum(client) / rounds,
        "per_client": sum(client) / len(client),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[4, 10])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--plain", type=float, nargs="*", default=[], help="plain Flower s/round per client count"
    )
    args = parser.parse_args()
    rows = []
    for k, clients in enumerate(args.clients):
        work = once(clients, args.rounds)
        total = work["server"] + work["clients"]
        plain = args.plain[k] if k < len(args.plain) else None
        rows.append(
            [
                clients,
                f"{work['per_client'] * 1000:.1f}",
                f"{work['clients'] * 1000:.0f}",
                f"{work['server'] * 1000:.0f}",
                f"{total * 1000:.0f}",
                f"{plain:.2f}" if plain else "-",
                f"{1 + total / plain:.2f}" if plain else "-",
            ]
        )
        print(clients, work, flush=True)
    write_section(
        "flower-work",
        "## What anchoring a Flower round costs in work\n\n"
        f"`python benchmarks/flower_work.py` ({machine()}; {args.rounds} rounds). "
        + (__doc__ or "").split("\n\n")[1].replace("\n", " ")
        + " Plain Flower s/round: `benchmarks/flower.py`'s steady round from the same session (`--plain`). If the "
        "clients ran one after another, a round would take plain Flower's time plus this work: the last column, "
        "the ratio the wall clock would show without the poll's steps.\n\n"
        + table(
            [
                "clients",
                "mod ms per client",
                "all clients ms/round",
                "strategy ms/round",
                "anchoring ms/round",
                "plain Flower s/round",
                "(plain + anchoring) / plain",
            ],
            rows,
        ),
    )
    print(rows)


if __name__ == "__main__":
    main()
