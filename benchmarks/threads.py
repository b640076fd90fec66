"""One torch thread against torch's default (one per core), side by side, on an idle machine and with a core taken.

`fedledger demo --dataset bikes --participants 4 --rounds 5` (local training and aggregation of small MLPs) with
``FEDLEDGER_TORCH_THREADS`` 1 and the core count, interleaved; "a core taken" runs a busy-looping process beside
it. Rewrites the `torch-threads` section of BENCHMARKS.md (the measurement behind `fl_node/threads.py`).
`python benchmarks/threads.py [--repeats 3]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from report import machine, table, write_section  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parents[1]
DEMO = [
    sys.executable,
    "-m",
    "fedledger",
    "demo",
    "--dataset",
    "bikes",
    "--participants",
    "4",
    "--rounds",
    "5",
]
BUSY = "while True: pass"


def demo_seconds(threads: int) -> float:
    """Wall seconds of the demo's rounds (the report's wall time, start-up excluded)."""
    env = dict(os.environ, FEDLEDGER_TORCH_THREADS=str(threads))
    done = subprocess.run(
        [*DEMO, "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=True
    )
    return float(json.loads(done.stdout)["wall_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cores = os.cpu_count() or 2
    rows = []
    for load in ("idle", "a core taken"):
        busy = subprocess.Popen([sys.executable, "-c", BUSY]) if load != "idle" else None
        try:
            time.sleep(0.5 if busy else 0)
            runs: dict[int, list[float]] = {1: [], cores: []}
            for _ in range(args.repeats):
                for threads in runs:  # interleaved: both see the same load
                    runs[threads].append(demo_seconds(threads))
                    print(load, threads, f"{runs[threads][-1]:.2f} s", flush=True)
        finally:
            if busy is not None:
                busy.kill()
        one, default = (statistics.median(runs[t]) for t in (1, cores))
        rows.append(
            [
                load,
                f"{one:.2f} ({min(runs[1]):.2f}-{max(runs[1]):.2f})",
                f"{default:.2f} ({min(runs[cores]):.2f}-{max(runs[cores]):.2f})",
                f"{default / one:.2f}",
            ]
        )
    write_section(
        "torch-threads",
        "## Torch threads\n\n"
        f"`python benchmarks/threads.py` ({machine()}; median of {args.repeats}, min-max, runs interleaved). "
        "`fedledger demo --dataset bikes --participants 4 --rounds 5`, seconds from deploy to audit, with one torch "
        f"thread (fedledger's default) and with {cores} (torch's default here); 'a core taken' runs a busy loop "
        "beside it.\n\n" + table(["machine", "1 thread s", f"{cores} threads s", "ratio"], rows),
    )
    print(rows)


if __name__ == "__main__":
    main()
