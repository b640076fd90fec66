"""Issue 18, measured on the embedded chain: what a committee of aggregators costs, what a lying member can do,
and the copy attack before and after commit-reveal.

1. Gas per round and the time each member spends closing it, for n = 1 (one aggregator, finalizeRound), n = 3
   (threshold 2) and n = 5 (threshold 3) at 10 and 100 submissions. Members close one after another here; on a
   real deployment they work in parallel, so the committee adds about one transaction's latency per extra
   agreeing attestation, not its members' compute.
2. The attack table: one member of three lies (a wrong global model, a false ``unavailable``, a false
   ``outlier``), or two of three collude: what the round commits and what the audit says.
3. The copy attack: Mallory re-registers Alice's digest (plain task) or tries to (commit-reveal task).

`python benchmarks/committee.py [--participants 10 100] [--quick]`; rewrites the `committee` section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
from report import machine, table, write_section  # type: ignore[import-not-found]

from aggregator.coordinator import Coordinator
from fedledger import codec
from fedledger.audit import verify_task
from fedledger.demo.lies import lying_judge
from fedledger.embedded_chain import advance_time
from fedledger.exceptions import ChainError
from fedledger.history import task_history
from fedledger.inclusion import decode_outcomes
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect, embedded_accounts
from fedledger.records import TaskLimits
from fedledger.rules.outcomes import Judgement
from fedledger.store import LocalStore
from fedledger.tasks import Committee, launch_task

SHAPES = {"layer.weight": (3, 2), "layer.bias": (3,)}


def model(value: float) -> codec.Tensors:
    return {name: np.full(shape, value, dtype=np.float32) for name, shape in SHAPES.items()}


class Bench:
    """One contract on an embedded chain with enough accounts; a fresh task per measurement."""

    def __init__(self, root: Path, accounts: int) -> None:
        self.w3 = connect(EMBEDDED)
        signers = embedded_accounts(self.w3, accounts)
        self.owner, self.people = signers[0], signers[1:]
        self.store = LocalStore(root / "store")
        self.ledger, _ = Ledger.deploy(self.w3, self.owner)
        self.initial = codec.encode(model(0.0))

    def task(self, participants: int, members: list[Signer], threshold: int, *, reveal: int = 0) -> int:
        return launch_task(
            self.ledger,
            self.owner,
            self.store,
            self.initial,
            participants=[p.address for p in self.people[:participants]],
            quorum=1,
            round_duration=3600,
            strategy="fedavg",
            limits=TaskLimits(max_samples=100, grace_period=3600),
            aggregator=members[0].address if members else None,
            committee=Committee([m.address for m in members], threshold) if len(members) > 1 else None,
            reveal_period=reveal or None,
        ).task_id

    def submit_all(self, task: int, participants: int) -> None:
        for k, person in enumerate(self.people[:participants]):
            data = codec.encode(model(0.01 * (k + 1)))
            self.ledger.submit_update(person, task, 1, codec.model_digest(data), self.store.put(data), 10)

    def close(
        self, task: int, member: Signer, lie: Callable[..., Judgement] | None = None
    ) -> tuple[int, float]:
        """(gas, seconds) of one member's close (attestation or finalize)."""
        started = time.perf_counter()
        outcome = Coordinator(self.ledger, self.store, member, fetch_budget=30.0, judge=lie).close_round(task)
        assert outcome.tx is not None
        return outcome.tx.gas_used, time.perf_counter() - started

    def verdict(self, task: int) -> Any:
        (verdict,) = [v for v in verify_task(task_history(self.ledger, task), self.store) if v.round == 1]
        return verdict


def gas_rows(bench: Bench, sizes: list[int]) -> list[list[object]]:
    rows: list[list[object]] = []
    members = bench.people[-5:]
    for participants in sizes:
        for n, k in ((1, 1), (3, 2), (5, 3)):
            task = bench.task(participants, members[:n], k)
            bench.submit_all(task, participants)
            closes = [bench.close(task, m) for m in members[:k]]  # the k-th agreeing attestation closes it
            total = sum(g for g, _ in closes)
            how = "finalizeRound" if n == 1 else f"{k} of {n} attest"
            verdict = bench.verdict(task).verdict
            rows.append(
                [participants, n, how, total, " + ".join(str(g) for g, _ in closes),
                 f"{sum(s for _, s in closes) / k:.2f}", verdict]
            )  # fmt: skip
    return rows


def attack_rows(bench: Bench) -> list[list[object]]:
    rows: list[list[object]] = []
    members = bench.people[-3:]
    cases = [
        ("1 of 3 lies: wrong global model", {0: "digest"}, False),
        ("1 of 3 lies: false unavailable", {0: "unavailable"}, False),
        ("1 of 3 lies: false outlier", {0: "outlier"}, False),
        ("2 of 3 collude: wrong global model", {0: "digest", 1: "digest"}, False),
        (
            "2 of 3 collude: false unavailable, honest member attests first",
            {1: "unavailable", 2: "unavailable"},
            True,
        ),
        (
            "2 of 3 collude: false unavailable, honest member too late",
            {0: "unavailable", 1: "unavailable"},
            False,
        ),
    ]
    for name, liars, honest_first in cases:
        task = bench.task(3, members, 2)
        bench.submit_all(task, 3)
        honest = [i for i in range(3) if i not in liars]
        order = honest + sorted(liars) if honest_first else sorted(liars) + honest
        for i in order:
            if task_history(bench.ledger, task).rounds[0].status != "open":
                break
            bench.close(task, members[i], lying_judge(liars[i]) if i in liars else None)
        record = task_history(bench.ledger, task).rounds[0]
        kind = next(iter(liars.values()))
        lie = "a wrong global model" if kind == "digest" else f"#1 {kind}"
        committed = f"the lie ({lie})" if len(liars) >= 2 else "the honest outcome"
        assert record.status == "finalized"
        verdict = bench.verdict(task)
        said = " ".join([verdict.reason, *getattr(verdict, "dissent", [])]).lower()
        liars_named = all(members[i].address.lower() in said for i in liars)
        rows.append([name, committed, verdict.verdict, "yes" if liars_named else "no"])
    return rows


def copy_rows(bench: Bench) -> list[list[object]]:
    alice, mallory = bench.people[0], bench.people[1]
    data = codec.encode(model(0.7))
    digest, cid = codec.model_digest(data), bench.store.put(data)
    # Before: a plain task. Mallory re-registers Alice's digest with a bogus CID and 1 sample.
    plain = bench.task(2, [bench.owner], 1)
    bench.ledger.submit_update(alice, plain, 1, digest, cid, 10)
    bench.ledger.submit_update(mallory, plain, 1, digest, "bafkqaaa", 1)
    advance_time(
        bench.w3, bench.ledger.get_task(plain).deadline + 1
    )  # no valid update: it fails at its deadline
    Coordinator(bench.ledger, bench.store, bench.owner, fetch_budget=5.0).close_round(plain)
    before = decode_outcomes(task_history(bench.ledger, plain).rounds[0].reasons)
    # After: commit-reveal. Mallory sees Alice's digest only once Alice reveals; her commitment then comes too late.
    cr = bench.task(2, [bench.owner], 1, reveal=3600)
    salt = b"\x07" * 32
    commitment = bytes(bench.w3.keccak(digest + bytes(12) + bytes.fromhex(alice.address[2:]) + salt))
    bench.ledger.commit_update(alice, cr, 1, commitment)
    advance_time(bench.w3, bench.ledger.get_task(cr).deadline + 1)
    bench.ledger.reveal_update(alice, cr, 1, digest, cid, 10, salt)
    try:
        bench.ledger.commit_update(mallory, cr, 1, b"\x01" * 32)
        refused = "accepted (!)"
    except ChainError as exc:
        refused = f"refused ({getattr(exc, 'error_name', type(exc).__name__)})"
    Coordinator(bench.ledger, bench.store, bench.owner, fetch_budget=5.0).close_round(cr)
    after = decode_outcomes(task_history(bench.ledger, cr).rounds[0].reasons)
    return [
        ["plain submitUpdate", f"Alice {before[0]}, Mallory {before[1]}", "both excluded"],
        ["commit-reveal", f"Alice {after[0]}; Mallory's commitment {refused}", "the author is included"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--quick", action="store_true", help="10 participants only (a smoke run)")
    args = parser.parse_args()
    sizes = [10] if args.quick else args.participants
    with TemporaryDirectory() as scratch:
        bench = Bench(Path(scratch), max(sizes) + 6)
        gas = gas_rows(bench, sizes)
        attacks = attack_rows(bench)
        copies = copy_rows(bench)
    body = "\n\n".join(
        [
            "## Aggregator committees, attacks on them, and the copy attack (issue 18)",
            (
                f"`python benchmarks/committee.py` — {machine()}. Embedded chain; members close one after another "
                "(in a deployment they run in parallel: a committee adds the latency of its agreeing attestations' "
                "transactions, not its members' compute)."
            ),
            table(
                [
                    "submissions",
                    "members n",
                    "round closed by",
                    "gas in all",
                    "gas per transaction",
                    "seconds per member",
                    "audit",
                ],
                gas,
            ),
            "Attacks on a committee of three (threshold 2), three honest updates:",
            table(["attack", "what the round committed", "audit", "liar(s) named"], attacks),
            "The copy attack (Mallory re-registers Alice's digest):",
            table(["task", "outcome", "meaning"], copies),
        ]
    )
    print(body)
    write_section("committee", body)


if __name__ == "__main__":
    main()
