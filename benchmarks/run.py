"""fedledger benchmarks: gas per call, aggregation memory/time, codec and CID throughput, demo wall time.

Prints a table and writes BENCHMARKS.md. Ratios are measured side by side in one run (these machines are noisy);
absolute seconds are only indicative. Run with `make bench` (or `python benchmarks/run.py [--quick]`).
"""

from __future__ import annotations

import argparse
import platform
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

from aggregator.strategies import FedAvg
from fedledger import codec
from fedledger.cid import compute_cid
from fedledger.demo.runner import DemoConfig, run_demo
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect

Row = tuple[str, str, str]
OUT = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def gas_rows(sizes: list[int]) -> list[Row]:
    """Gas of submitUpdate with growing allowlists, and of finalizeRound, on the embedded chain."""
    rows: list[Row] = []
    w3 = connect(EMBEDDED)
    tester = w3.provider.ethereum_tester  # type: ignore[attr-defined]
    owner = Signer(w3.eth.accounts[0])
    ledger, _ = Ledger.deploy(w3, owner)
    cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    for size in sizes:
        task, create = ledger.create_task(
            owner,
            aggregator=owner.address,
            initial_digest=b"\x01" * 32,
            initial_cid=cid,
            quorum=1,
            round_duration=3600,
            strategy="fedavg",
        )
        signers = []
        for i in range(size):
            key = f"0x{(10_000 * size + i + 1):064x}"
            address = tester.add_account(key)
            tester.send_transaction({"from": owner.address, "to": address, "value": 10**18, "gas": 21000})
            signers.append(Signer.from_key(key))
            ledger.add_participant(owner, task, address)
        ledger.open_round(owner, task)
        gas = [ledger.submit_update(s, task, 1, b"\x02" * 32, cid, 100).gas_used for s in signers[:3]]
        tester.time_travel(ledger.get_task(task).deadline + 1)  # not everyone submitted: wait out the round
        included = min(size, 3)
        final = ledger.finalize_round(
            owner,
            task,
            1,
            global_digest=b"\x03" * 32,
            global_cid=cid,
            included_root=((1 << included) - 1).to_bytes(32, "big"),
            num_included=included,
        )
        rows.append(
            (f"gas: submitUpdate, {size} participants", f"{max(gas):,}", "total tx gas (target < 60,000)")
        )
        rows.append(
            (f"gas: finalizeRound, {size} participants", f"{final.gas_used:,}", f"{included} included")
        )
    rows.append(("gas: createTask", f"{create.gas_used:,}", ""))
    return rows


def model(params: int, seed: int) -> codec.Tensors:
    rng = np.random.default_rng(seed)
    side = int(params**0.5)
    return {
        "w": rng.standard_normal((side, side)).astype(np.float32),
        "b": rng.standard_normal(side).astype(np.float32),
    }


def aggregation_rows(params: int, updates: int) -> list[Row]:
    """Streaming FedAvg (one float64 accumulator) against holding every update, as peak Python memory."""
    base = model(params, 0)

    def streamed() -> None:
        FedAvg().aggregate(base, ((model(params, i), 10 + i) for i in range(updates)))

    def held() -> None:
        everything = [(model(params, i), 10 + i) for i in range(updates)]
        FedAvg().aggregate(base, iter(everything))

    rows: list[Row] = []
    peaks = {}
    for name, fn in (("streamed", streamed), ("all held", held)):
        tracemalloc.start()
        seconds = best_of(1, fn)
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows.append(
            (
                f"FedAvg {updates} x {params / 1e6:.1f}M params, {name}",
                f"{seconds:.2f} s",
                f"peak {peaks[name] / 2**20:.0f} MiB",
            )
        )
    rows.append(
        ("streaming memory ratio (held / streamed)", f"{peaks['all held'] / peaks['streamed']:.1f}x", "")
    )
    return rows


def codec_rows(params: int) -> list[Row]:
    tensors = model(params, 1)
    data = codec.encode(tensors)
    mib = len(data) / 2**20
    rows: list[Row] = []
    for name, fn in (
        ("codec.encode", lambda: codec.encode(tensors)),
        ("codec.decode (canonical check)", lambda: codec.decode(data)),
        ("model_digest (sha256)", lambda: codec.model_digest(data)),
        ("compute_cid (UnixFS DAG)", lambda: compute_cid(data)),
    ):
        seconds = best_of(3, fn)
        rows.append((f"{name}, {mib:.1f} MiB", f"{seconds * 1000:.1f} ms", f"{mib / seconds:.0f} MiB/s"))
    return rows


def demo_rows() -> list[Row]:
    report = run_demo(DemoConfig())
    last = report.rounds[-1]
    return [
        (
            "demo wall time (4 participants x 5 rounds, bikes)",
            f"{report.wall_seconds:.1f} s",
            f"audit ok={report.audit['ok']}",
        ),
        ("demo per round (train 4 + aggregate)", f"{sum(r.seconds for r in report.rounds) / 5:.2f} s", ""),
        (
            "demo final RMSE vs centralised baseline",
            f"{last.metric['value']:.1f}",
            f"baseline {report.baseline['value']:.1f}, initial {report.initial_metric['value']:.1f}",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (for a smoke run)")
    args = parser.parse_args()
    sizes = [2, 16] if args.quick else [2, 16, 64, 200]
    params = 200_000 if args.quick else 1_663_370  # the FedAvg paper's CNN size
    rows = (
        gas_rows(sizes) + aggregation_rows(params, 4 if args.quick else 16) + codec_rows(params) + demo_rows()
    )
    width = max(len(r[0]) for r in rows)
    lines = [f"{'benchmark'.ljust(width)}  {'value':>14}  notes"]
    lines += [f"{name.ljust(width)}  {value:>14}  {note}" for name, value, note in rows]
    print("\n".join(lines))
    md = [
        "# Benchmarks",
        "",
        (
            f"Measured by `benchmarks/run.py` on {platform.machine()} / {platform.python_version()}"
            f" ({time.strftime('%Y-%m-%d')}); re-run with `make bench`."
        ),
        "",
        "| benchmark | value | notes |",
        "|---|---:|---|",
    ]
    md += [f"| {name} | {value} | {note} |" for name, value, note in rows]
    OUT.write_text("\n".join(md) + "\n")
    print(f"\nwrote {OUT}")


if __name__ == "__main__":
    main()
