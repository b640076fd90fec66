"""MB/s of every stage of one 100 MB update, on the embedded default and on the devnet, side by side in one run.

One participant's update of 25M float32 parameters (100 MB): encode, digest, CID, upload, register; the aggregator
(the real ``Coordinator``, timed by wrapping what it calls, as in ``phases.py``) fetches, validates, aggregates,
uploads the global model and finalizes; a fresh auditor re-derives the round. The task's on-chain update limit is
raised to 128 MiB for it.

`python benchmarks/big_update.py [--params N] [--no-devnet]`; rewrites the `big-update` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import tempfile
from typing import Any

import numpy as np
from phases import Phases, TimedLedger, TimedStore, temporary_devnet, timing_the_coordinator  # type: ignore[import-not-found]
from report import machine, table, write_section  # type: ignore[import-not-found]

from aggregator.coordinator import Coordinator
from fedledger import codec
from fedledger.audit import audit_summary, verify_task
from fedledger.cid import compute_cid
from fedledger.history import task_history
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect
from fedledger.records import TaskLimits
from fedledger.store import ContentStore, KuboStore, LocalStore
from fedledger.tasks import launch_task

LIMIT = 128 * 2**20
# these carry a 32-byte digest and a CID, never the update's bytes: a rate in MB/s would mean nothing
SIZE_INDEPENDENT = {"registration (transaction)", "event polling", "finalization (transaction)"}
STAGES = [
    "encoding",
    "digest",
    "CID",
    "upload",
    "registration (transaction)",
    "event polling",
    "fetch updates",
    "validation and aggregation",
    "upload the global model",
    "finalization (transaction)",
    "audit (history + re-derivation)",
]


def one_round(
    w3: Any, store: ContentStore, owner: Signer, participant: Signer, params: int
) -> tuple[Phases, Any]:
    phases = Phases()
    base = {"w": np.zeros(params, np.float32)}
    initial = codec.encode(base)
    ledger, _ = Ledger.deploy(w3, owner)
    task = launch_task(
        ledger,
        owner,
        store,
        initial,
        participants=[participant.address],
        quorum=1,
        round_duration=10**6,
        strategy="fedavg",
        limits=TaskLimits(max_update_bytes=LIMIT, grace_period=10**6),
    ).task_id
    update = {"w": np.random.default_rng(0).standard_normal(params, dtype=np.float32)}
    del base, initial
    with phases("encoding"):
        data = codec.encode(update)
    del update
    with phases("digest"):
        digest = codec.model_digest(data)
    with phases("CID"):
        compute_cid(data)
    timed_store = TimedStore(store, phases)
    cid = timed_store.put(data)
    with phases("registration (transaction)"):
        ledger.submit_update(participant, task, 1, digest, cid, 10)
    size = len(data)
    del data
    timed_store.put_phase = "upload the global model"
    coordinator = Coordinator(TimedLedger(ledger, phases), timed_store, owner, fetch_timeout=300.0)  # type: ignore[arg-type]
    with timing_the_coordinator(phases):
        coordinator.close_round(task)
    with phases("audit (history + re-derivation)"):
        fresh = Ledger(w3, ledger.address, from_block=ledger.from_block)
        summary = audit_summary(verify_task(task_history(fresh, task), store))
    return phases, {"audit": summary, "bytes": size}


def embedded(params: int) -> tuple[Phases, Any]:
    with tempfile.TemporaryDirectory(prefix="fedledger-big-") as scratch:
        w3 = connect(EMBEDDED)
        return one_round(
            w3, LocalStore(scratch), Signer(w3.eth.accounts[0]), Signer(w3.eth.accounts[1]), params
        )


def devnet(params: int) -> tuple[Phases, Any]:
    with temporary_devnet() as state:
        w3 = connect(state["rpc_url"])
        store = KuboStore(state["ipfs_api"], timeout=300.0)
        return one_round(w3, store, Signer(w3.eth.accounts[0]), Signer(w3.eth.accounts[1]), params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=25_000_000)
    parser.add_argument("--no-devnet", action="store_true")
    args = parser.parse_args()
    runs = {"embedded": embedded(args.params)}
    if not args.no_devnet:
        runs["devnet"] = devnet(args.params)
    size = runs["embedded"][1]["bytes"]
    mb = size / 1e6
    rows = []
    for stage in STAGES:
        cells = []
        for name in runs:
            seconds = runs[name][0].seconds.get(stage, 0.0)
            moves_bytes = stage not in SIZE_INDEPENDENT and seconds > 0
            cells += [f"{seconds:.2f}", f"{mb / seconds:.0f}" if moves_bytes else "-"]
        rows.append([stage, *cells])
    verdicts = ", ".join(f"{n}: {runs[n][1]['audit']['status']}" for n in runs)
    columns = ["stage"] + [f"{n} {unit}" for n in runs for unit in ("s", "MB/s")]
    body = (
        "## One 100 MB update, stage by stage\n\n"
        f"`python benchmarks/big_update.py` ({machine()}). One update of {args.params:,} float32 parameters "
        f"({mb:.0f} MB encoded), one participant, FedAvg; embedded = the pyrevm chain and a local store (which fsyncs "
        "every write); devnet = anvil and js-ipfs over the Kubo RPC API on loopback. The aggregator and the "
        "auditor stream updates from disk (peak RSS of this path: see the 100 MB integration test in the notes). "
        "MB/s = the update's size over the stage's time; fetching and the audit read the base model as well as "
        f"the update (twice the bytes). Audit: {verdicts}.\n\n" + table(columns, rows)
    )
    print(body)
    write_section("big-update", body)


if __name__ == "__main__":
    main()
