"""fedledger benchmarks: where a round's time goes, audit time as history grows, aggregation at scale, codec and
CID throughput, gas. Each prints a table and rewrites its section of BENCHMARKS.md (`benchmarks/report.py`).

`python benchmarks/run.py [--quick]` (`make bench`, `make bench-quick`). Ratios are measured side by side in one
run (these machines are noisy); absolute seconds are indicative; medians of repeats with min-max.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
from report import machine, table, write_section  # type: ignore[import-not-found]

from fedledger import codec
from fedledger.audit import verify_task
from fedledger.cid import compute_cid
from fedledger.demo.runner import DemoConfig, run_demo
from fedledger.embedded_chain import add_account
from fedledger.history import task_history
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect
from fedledger.records import TaskLimits
from fedledger.rules.strategies import strategy_from_spec
from fl_node.threads import configure_torch_threads


def timed(repeats: int, fn: Callable[[], object]) -> tuple[float, float, float]:
    """(median, min, max) seconds over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times), max(times)


def fmt(stats: tuple[float, float, float], unit: float = 1.0, digits: int = 2) -> str:
    median, low, high = (s * unit for s in stats)
    return f"{median:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


# ------------------------------------------------------------------------------------------ a round's time


def rounds_section(sizes: list[int], rounds: int) -> str:
    """The demo (digits) at several sizes: per-round time, its trend, and the audit time, embedded default."""
    rows = []
    for n in sizes:
        report = run_demo(DemoConfig(participants=n, rounds=rounds, dataset="digits"))
        per_round = [r.seconds for r in report.rounds]
        steady = statistics.median(per_round[1:]) if len(per_round) > 1 else per_round[0]
        trend = per_round[-1] / per_round[1] if len(per_round) > 2 else 1.0
        rows.append(
            [
                n,
                rounds,
                f"{steady:.2f}",
                " / ".join(f"{s:.2f}" for s in per_round),
                f"{trend:.2f}",
                f"{report.wall_seconds:.1f}",
                "OK" if report.audit["ok"] else "MISMATCH",
            ]
        )
    return (
        "## A round's time on the embedded default\n\n"
        "`fedledger demo --dataset digits` (in-process chain and local store; each participant trains, uploads and "
        "registers; the aggregator finalizes; the whole history is audited at the end).\n\n"
        + table(
            ["participants", "rounds", "steady s/round", "each round (s)", "last / 2nd", "total s", "audit"],
            rows,
        )
    )


def audit_section(round_counts: list[int]) -> str:
    """Audit time (history query + re-derivation) after 1, 10, 30 rounds of 3 participants."""
    from federation_bench import small_federation  # type: ignore[import-not-found]

    rows = []
    fed = small_federation()
    done = 0
    for target in round_counts:
        while done < target:
            fed.round()
            done += 1
        fresh = Ledger(fed.w3, fed.ledger.address, from_block=fed.ledger.from_block)
        started = time.perf_counter()
        history = task_history(fresh, fed.task)
        queried = time.perf_counter() - started
        verdicts = verify_task(history, fed.store)
        total = time.perf_counter() - started
        rows.append(
            [
                target,
                sum(v.verdict == "OK" for v in verdicts),
                f"{queried:.3f}",
                f"{total:.2f}",
                fresh.events.queries,
            ]
        )
    return (
        "## Audit time as the history grows\n\n"
        "A fresh auditor (no cache) reads a task's events and re-derives every round: 3 participants, "
        "a 6-parameter model, embedded chain. The history is one paged query per 10,000 blocks, whatever the "
        "number of rounds.\n\n"
        + table(["rounds", "verified", "history query s", "query + verify s", "eth_getLogs calls"], rows)
    )


# ------------------------------------------------------------------------------------------ aggregation at scale


def _updates(n: int, params: int) -> list[tuple[codec.Tensors, int]]:
    rng = np.random.default_rng(n + params)
    return [({"w": rng.standard_normal(params, dtype=np.float32)}, 10 + i) for i in range(n)]


def _numpy_mean(updates: list[tuple[codec.Tensors, int]]) -> np.ndarray:
    """The plain in-memory baseline: stack every update and take the weighted average."""
    stacked = np.stack([u["w"] for u, _ in updates])
    weights = np.array([w for _, w in updates], np.float64)
    return np.average(stacked, axis=0, weights=weights)


def _fedavg_runner(base: codec.Tensors, updates: list[tuple[codec.Tensors, int]]) -> Callable[[], object]:
    return _rule_runner("fedavg", base, updates)


def _rule_runner(
    spec: str, base: codec.Tensors, updates: list[tuple[codec.Tensors, int]]
) -> Callable[[], object]:
    rule = strategy_from_spec(spec)
    return lambda: rule.aggregate(base, iter(updates))


def _peak(fn: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def aggregation_section(grid: list[tuple[int, int]], robust: list[tuple[int, int]]) -> str:
    rows = []
    for n, params in grid:
        updates = _updates(n, params)
        base = {"w": np.zeros(params, np.float32)}
        ours_fn = _fedavg_runner(base, updates)
        ours = timed(3, ours_fn)
        plain = timed(3, lambda u=updates: _numpy_mean(u))  # type: ignore[misc]
        stream_peak = _peak(ours_fn)
        plain_peak = _peak(lambda u=updates: _numpy_mean(u))  # type: ignore[misc]
        model_mib = params * 4 / 2**20
        rows.append(
            [
                n,
                f"{params / 1e6:.1f}M",
                fmt(ours),
                fmt(plain),
                f"{plain[0] / ours[0]:.2f}",
                f"{stream_peak:.0f} ({stream_peak / model_mib:.1f}x model)",
                f"{plain_peak:.0f}",
            ]
        )
        del updates
    robust_rows = []
    for n, params in robust:
        updates = _updates(n, params)
        base = {"w": np.zeros(params, np.float32)}
        for spec in ("median", "trimmed_mean:beta=0.1", "multikrum:f=1"):
            run = _rule_runner(spec, base, updates)
            stats = timed(1 if spec.startswith("multi") else 3, run)
            peak = _peak(run)
            robust_rows.append(
                [spec, n, f"{params / 1e6:.1f}M", fmt(stats), f"{peak:.0f}", f"{n * params * 4 / 2**20:.0f}"]
            )
    return (
        "## Aggregation at scale\n\n"
        "FedAvg as fedledger runs it (streamed through one float64 accumulator, fixed order, cast once) against a "
        "plain in-memory numpy weighted average of the same updates (`np.average` of the stacked float32 array). "
        "Time: median (min-max) of 3; ratio = numpy time / fedledger time (>= 1: fedledger is faster); peak = "
        "Python-traced memory in MiB while aggregating (the updates themselves are already in memory for both).\n\n"
        + table(
            ["N", "params", "fedledger s", "numpy s", "ratio", "fedledger peak MiB", "numpy peak MiB"], rows
        )
        + "\n\nThe robust rules need every update at once (their documented bound: N x P x 4 bytes for the stack, "
        "plus N x N distances for Krum); peak against that bound:\n\n"
        + table(["rule", "N", "params", "seconds", "peak MiB", "N x P x 4 MiB"], robust_rows)
    )


# ------------------------------------------------------------------------------------------ codec, CID, gas


def codec_section(params: int) -> str:
    tensors = {"w": np.random.default_rng(1).standard_normal(params, dtype=np.float32)}
    data = codec.encode(tensors)
    mib = len(data) / 2**20
    rows = []
    for name, fn in (
        ("codec.encode", lambda: codec.encode(tensors)),
        ("codec.decode (bounded, canonical check)", lambda: codec.decode(data)),
        ("model_digest (sha256)", lambda: codec.model_digest(data)),
        ("compute_cid (UnixFS DAG)", lambda: compute_cid(data)),
    ):
        stats = timed(5, fn)
        rows.append([name, f"{mib:.1f}", fmt(stats, 1000, 1), f"{mib / stats[0]:.0f}"])
    return "## Codec and CID throughput\n\n" + table(["operation", "MiB", "ms", "MiB/s"], rows)


def gas_section(sizes: list[int]) -> str:
    """Gas of submitUpdate and finalizeRound on the embedded chain, a new digest and CID every round."""
    w3 = connect(EMBEDDED)
    owner = Signer(w3.eth.accounts[0])
    ledger, _ = Ledger.deploy(w3, owner)
    rows = []
    for size in sizes:
        task, _ = ledger.create_task(
            owner,
            aggregator=owner.address,
            initial_digest=b"\x01" * 32,
            initial_cid="bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
            quorum=1,
            round_duration=3600,
            strategy="fedavg",
            limits=TaskLimits(),
        )
        signers = []
        for i in range(size):
            key = f"0x{(10_000 * size + i + 1):064x}"
            address = add_account(w3, key)
            signers.append(Signer(address))
        ledger.add_participants(owner, task, [s.address for s in signers])
        ledger.open_round(owner, task)
        submits = [
            ledger.submit_update(s, task, 1, (i + 7).to_bytes(32, "big"), f"bafkreig{i:051d}", 100).gas_used
            for i, s in enumerate(signers)
        ]
        reasons = bytes(5 if i % 4 == 3 else 0 for i in range(size))
        final = ledger.finalize_round(
            owner,
            task,
            1,
            global_digest=(size + 99).to_bytes(32, "big"),
            global_cid=f"bafkreih{size:051d}",
            reasons=reasons,
        )
        rows.append([size, f"{max(submits):,}", f"{min(submits):,}", f"{final.gas_used:,}"])
    return (
        "## Gas (embedded chain)\n\n"
        "The embedded chain's gas: pyrevm keeps storage warm from one transaction to the next, so since issue 19 "
        "these are below what a node charges (eth-tester's, which equal anvil's, were 39,447 per submit and "
        "61,225 to 89,461 per finalize at 16 to 1,024 submissions); measure a node's on the devnet. Total "
        "transaction gas; finalize includes its calldata (one reason byte per submission) and a new global "
        "CID (real storage writes). The Hardhat suite asserts the same limits and prints gas without calldata "
        "(`npx hardhat test mocha`).\n\n"
        + table(["submissions", "submit max", "submit min", "finalize"], rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["rounds", "audit", "aggregation", "codec", "gas"],
        help="these sections only",
    )
    args = parser.parse_args()
    configure_torch_threads()
    quick = args.quick
    sections = {
        "rounds": lambda: rounds_section([4, 10] if quick else [4, 10, 50], 5),
        "audit": lambda: audit_section([1, 10] if quick else [1, 10, 30]),
        "aggregation": lambda: aggregation_section(
            [(10, 200_000), (100, 200_000)]
            if quick
            else [
                (10, 200_000),
                (100, 200_000),
                (1000, 200_000),
                (10, 1_663_370),
                (100, 1_663_370),
                (10, 25_000_000),
            ],
            [(10, 200_000)] if quick else [(10, 200_000), (10, 1_663_370), (100, 200_000)],
        ),
        "codec": lambda: codec_section(1_663_370),
        "gas": lambda: gas_section([16, 64] if quick else [16, 256, 1024]),
    }
    for name, build in sections.items():
        if args.only and name not in args.only:
            continue
        started = time.perf_counter()
        body = build() + f"\n\n<sub>`python benchmarks/run.py{' --quick' if quick else ''}`, {machine()}, "
        body += f"{time.perf_counter() - started:.0f} s.</sub>"
        write_section(name, body)
        print(body, "\n", flush=True)


if __name__ == "__main__":
    main()
