"""What a private round costs next to a plain one: seconds and gas per round, client masking, recovery.

Rounds (issue 17 §3): plain and private rounds of the same model, side by side in one run on the embedded chain
(the pyrevm chain in this process, local store), driven step by step without training: each participant's update is a
random delta of the MNIST 2NN shape (784-200-200-10, 199,210 float32 parameters). A plain participant encodes its
model and sends ``submitUpdate``; a private one advertises its keys, posts its share bundle, masks and uploads its
quantized update, then posts its unmask material (README, "Private rounds"); the real ``Coordinator`` closes the
round and a fresh auditor re-derives it. Quorum and threshold are a majority (6 of 10, 51 of 100). Dropout rows:
every participant advertises keys and posts shares, then 10 % or 30 % of them never upload, so the aggregator and
the auditor rebuild their mask keys and remove their pairwise masks (a drop right after ``advertiseKeys`` leaves
the masking set and costs nothing). Time is split into the participants' client work (key generation, sealing
and opening bundles, quantizing and masking), their transactions (store put included), and the aggregator's close
(unmasking and aggregation, ``finalizeRound``, the rest: event reads and fetches). The roles are read from the
events once per step for all participants; each participant would read them itself, in parallel.

Client masking and recovery at larger sizes reuse ``secagg.py`` (one participant masking 1.7M and 25M parameters
for 9 and 99 peers; unmasking 1.7M parameters with 10 % and 30 % of 100 registered dropped, plus one 25M point).

`python benchmarks/privacy_cost.py [--quick]`; rewrites the `privacy-cost` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from report import Stopwatch, machine, table, write_section  # type: ignore[import-not-found]
from secagg import time_masking, time_unmasking  # type: ignore[import-not-found]

import aggregator.coordinator as coordinator_module
from aggregator.coordinator import Coordinator
from fedledger import codec, private_rounds
from fedledger.audit import verify_task
from fedledger.embedded_chain import advance_time
from fedledger.history import task_history
from fedledger.ledger import EMBEDDED, Ledger, connect, embedded_accounts
from fedledger.privacy.accounting import PrivateTask
from fedledger.privacy.masks import RoundRef, generate_keypair, mask_update, new_self_seed, seed_commitment
from fedledger.privacy.quantize import QuantParams, encode_update
from fedledger.privacy.spec import parse_privacy_canonical
from fedledger.privacy.transcript import (
    Roles,
    encode_masked,
    flatten,
    open_bundle,
    roles_of,
    seal_bundle,
    sha256,
    unmask_material,
)
from fedledger.records import TaskLimits
from fedledger.store import LocalStore
from fedledger.tasks import launch_task

MNIST_2NN = {
    "fc1.weight": (200, 784), "fc1.bias": (200,), "fc2.weight": (200, 200), "fc2.bias": (200,),
    "fc3.weight": (10, 200), "fc3.bias": (10,),
}  # fmt: skip
MNIST_2NN_NAME = "the MNIST 2NN shape (784-200-200-10, 199,210 float32)"
TINY = {"layer.weight": (3, 2), "layer.bias": (3,)}
CAP = 50
CLIP, SCALE_BITS = 1.0, 16
PERIOD = 3600  # every phase ends early once everyone has posted; the dropout rounds travel past the deadline
STEPS = ("advertiseKeys", "postShares", "submitUpdate", "postUnmask")


Clock = Stopwatch


@dataclass
class RoundCost:
    """One measured round: what it was, its seconds by part and its gas by transaction."""

    kind: str  # "plain" or "private"
    participants: int
    dropped: int
    clock: Clock
    gas: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    verdict: str = ""


@contextmanager
def timing_the_close(clock: Clock, ledger: Ledger) -> Iterator[None]:
    """Time the Coordinator's judgement (for a private round: its Shamir rebuilds and its unmasked sum) and its
    finalize transaction by wrapping them (restored afterwards)."""
    saved = coordinator_module.judge_private_round, coordinator_module.judge_round
    parts = private_rounds.recover, private_rounds.private_global
    coordinator_module.judge_private_round = clock.wrap("judgement", saved[0])
    coordinator_module.judge_round = clock.wrap("judgement", saved[1])
    private_rounds.recover = clock.wrap("rebuild secrets", parts[0])
    private_rounds.private_global = clock.wrap("unmask + sum", parts[1])
    ledger.finalize_round = clock.wrap("finalizeRound", ledger.finalize_round)  # type: ignore[method-assign]
    try:
        yield
    finally:
        coordinator_module.judge_private_round, coordinator_module.judge_round = saved
        private_rounds.recover, private_rounds.private_global = parts
        del ledger.finalize_round


class Bench:
    """One task on a fresh contract: owner = aggregator = account 0, ``participants`` accounts, round 1 open."""

    def __init__(
        self, w3: Any, root: Path, shapes: dict[str, tuple[int, ...]], participants: int, private: bool
    ):
        accounts = embedded_accounts(w3, participants + 1)
        self.w3, self.owner, self.people = w3, accounts[0], accounts[1:]
        self.shapes, self.private = shapes, private
        self.store = LocalStore(root / "store")
        self.ledger, _ = Ledger.deploy(w3, self.owner)
        self.base = {name: np.zeros(shape, np.float32) for name, shape in shapes.items()}
        initial = codec.encode(self.base)
        self.threshold = participants // 2 + 1
        spec = parse_privacy_canonical(f"secagg:clip={CLIP},scale_bits={SCALE_BITS}")
        self.task = launch_task(
            self.ledger, self.owner, self.store, initial, participants=[p.address for p in self.people],
            quorum=self.threshold, round_duration=3 * PERIOD, strategy="fedavg",
            limits=TaskLimits(max_samples=CAP, grace_period=PERIOD),
            privacy=PrivateTask(spec, self.threshold, 0, PERIOD, PERIOD, PERIOD, CAP) if private else None,
        ).task_id  # fmt: skip
        self.ref = RoundRef(self.task, 1)

    def delta(self, i: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(1000 + i)
        return {name: rng.normal(0, 0.01, shape).astype(np.float32) for name, shape in self.shapes.items()}

    def roles(self) -> Roles:
        record = task_history(self.ledger, self.task).rounds[-1]
        return roles_of(
            self.ref,
            [(k.participant, k.encryption_key, k.mask_key, k.seed_commitment) for k in record.keys],
            [s.participant for s in record.shares],
            [u.participant for u in record.submissions],
        )

    def plain_round(self, cost: RoundCost) -> None:
        clock = cost.clock
        for i, person in enumerate(self.people):
            with clock("client"):
                data = codec.encode({k: self.base[k] + v for k, v in self.delta(i).items()})
                digest = codec.model_digest(data)
            with clock("transactions"):
                tx = self.ledger.submit_update(person, self.task, 1, digest, self.store.put(data), CAP)
            cost.gas["submitUpdate"].append(tx.gas_used)

    def private_round(self, cost: RoundCost, uploaders: list[int]) -> None:
        """Every participant advertises keys and posts shares; ``uploaders`` upload and post unmask material."""
        clock, everyone = cost.clock, range(len(self.people))
        secrets = {}
        for i in everyone:
            with clock("client"):
                c, s, seed = generate_keypair(), generate_keypair(), new_self_seed()
                commitment = seed_commitment(seed, self.people[i].address.lower(), self.ref)
                secrets[i] = (c, s, seed)
            with clock("transactions"):
                tx = self.ledger.advertise_keys(
                    self.people[i], self.task, 1, encryption_key=c.public, mask_key=s.public,
                    seed_commitment=commitment,
                )  # fmt: skip
            cost.gas["advertiseKeys"].append(tx.gas_used)
        with clock("event reads"):
            roles = self.roles()
        for i in everyone:
            c, s, seed = secrets[i]
            with clock("client"):
                data = seal_bundle(
                    roles, self.people[i].address.lower(), c.private, s.private, seed, self.threshold
                )
            with clock("transactions"):
                tx = self.ledger.post_shares(self.people[i], self.task, 1, sha256(data), self.store.put(data))
            cost.gas["postShares"].append(tx.gas_used)
        with clock("event reads"):
            roles = self.roles()
        quant = QuantParams(CLIP, SCALE_BITS, CAP, max_participants=len(roles.key_set))
        for i in uploaders:
            c, s, seed = secrets[i]
            me = self.people[i].address.lower()
            with clock("client"):
                words = encode_update(flatten(self.delta(i)), CAP, quant)
                peers = {a: k for a, k in roles.masking_set.items() if a != me}
                data = encode_masked(mask_update(words, me, s, peers, seed, self.ref))
            with clock("transactions"):
                tx = self.ledger.submit_update(
                    self.people[i], self.task, 1, sha256(data), self.store.put(data), CAP
                )
            cost.gas["submitUpdate"].append(tx.gas_used)
        if len(uploaders) < len(self.people):
            self.travel_past_deadline()
        with clock("event reads"):
            roles = self.roles()
            record = task_history(self.ledger, self.task).rounds[-1]
            bundles = {p.participant.lower(): self.store.get(p.cid) for p in record.shares}
        for i in uploaders:
            c, me = secrets[i][0], self.people[i].address.lower()
            with clock("client"):
                opened = {d: open_bundle(b, roles, d, me, c.private) for d, b in bundles.items()}
                data = unmask_material(roles, me, opened)
            with clock("transactions"):
                tx = self.ledger.post_unmask(self.people[i], self.task, 1, sha256(data), self.store.put(data))
            cost.gas["postUnmask"].append(tx.gas_used)

    def travel_past_deadline(self) -> None:
        advance_time(self.w3, self.ledger.get_task(self.task).deadline + 1)

    def close_and_audit(self, cost: RoundCost) -> None:
        clock = cost.clock
        coordinator = Coordinator(self.ledger, self.store, self.owner)
        with timing_the_close(clock, self.ledger), clock("close"):
            outcome = coordinator.close_round(self.task)
        assert outcome.tx is not None and not outcome.failed, f"{cost.kind} round failed: {outcome.excluded}"
        cost.gas["finalizeRound"].append(outcome.tx.gas_used)
        with clock("audit"):
            verdicts = verify_task(task_history(self.ledger, self.task), self.store)
        cost.verdict = ", ".join(v.verdict for v in verdicts if v.verdict != "OPEN")


def measure_round(
    w3: Any, shapes: dict[str, tuple[int, ...]], participants: int, private: bool, dropped: int = 0
) -> RoundCost:
    cost = RoundCost("private" if private else "plain", participants, dropped, Clock())
    with tempfile.TemporaryDirectory() as root:
        bench = Bench(w3, Path(root), shapes, participants, private)
        started = time.perf_counter()
        if private:
            bench.private_round(cost, list(range(dropped, participants)))
        else:
            bench.plain_round(cost)
        bench.close_and_audit(cost)
        cost.clock.seconds["round"] = time.perf_counter() - started - cost.clock.seconds["audit"]
    return cost


def mean(values: list[int]) -> int:
    return round(sum(values) / len(values)) if values else 0


def round_rows(costs: list[RoundCost]) -> tuple[list[list[object]], list[list[object]]]:
    """(time rows, gas rows), one of each per measured round."""
    times, gases = [], []
    for c in costs:
        s = c.clock.seconds
        private_parts = [
            f"{s[p]:.2f}" if c.kind == "private" else "-" for p in ("rebuild secrets", "unmask + sum")
        ]
        label = [
            c.kind,
            c.participants,
            f"{c.dropped} ({c.dropped / c.participants:.0%})" if c.dropped else "0",
        ]
        times.append(label + [
            f"{s['round']:.2f}", f"{s['client']:.2f} ({s['client'] / c.participants:.3f} each)",
            f"{s['transactions']:.2f}", f"{s['event reads']:.2f}", f"{s['close']:.2f}",
            f"{s['judgement']:.2f}", *private_parts, f"{s['finalizeRound']:.2f}", f"{s['audit']:.2f}", c.verdict,
        ])  # fmt: skip
        steps = [mean(c.gas[name]) for name in STEPS]
        per_participant = sum(steps) if c.kind == "private" else steps[2]
        total = sum(sum(c.gas[name]) for name in STEPS) + c.gas["finalizeRound"][0]
        gases.append(label + [
            *(f"{g:,}" if g else "-" for g in steps), f"{per_participant:,}", f"{c.gas['finalizeRound'][0]:,}",
            f"{total:,}",
        ])  # fmt: skip
    return times, gases


def crypto_rows(
    params: list[int], peers: list[int], unmask_params: list[int], registered: int, big: int
) -> list[list[object]]:
    """One participant's quantize + mask, and the unmasking with 10 % and 30 % dropped (``secagg.py``)."""
    rows: list[list[object]] = []
    for size in params:
        for count in peers:
            quantize_s, mask_s = time_masking(size, count)
            if count == peers[0]:
                setting = "clip 1.0, scale 2^12"
                rows.append(["quantize + weight (participant)", f"{size:,}", setting, f"{quantize_s:.2f}"])
            rows.append(["mask (participant)", f"{size:,}", f"{count} peers + self", f"{mask_s:.2f}"])
    for size in unmask_params:
        for share in (0.1, 0.3):
            dropped = round(share * registered)
            seconds = time_unmasking(size, registered, dropped)
            survivors = registered - dropped
            setting = f"{survivors} survivors, {dropped} dropped: {survivors * (1 + dropped):,} streams"
            rows.append(["unmask (aggregator, auditor)", f"{size:,}", setting, f"{seconds:.2f}"])
            if big:
                estimate = seconds * big / size
                rows.append(["unmask, scaled (streams x params)", f"{big:,}", setting, f"~{estimate:.0f}"])
    if big:
        dropped = round(0.1 * registered)
        seconds = time_unmasking(big, registered, dropped)
        setting = f"{registered - dropped} survivors, {dropped} dropped: measured"
        rows.append(["unmask (aggregator, auditor)", f"{big:,}", setting, f"{seconds:.2f}"])
    return rows


ROUNDS_NOTE = (
    "One round each, plain and private side by side on the embedded chain (pyrevm, in process; local store); "
    "no training: each participant sends a random update of {model}. Quorum and threshold: a majority. Dropped: "
    "participants that advertised keys and posted shares, then never uploaded (their mask keys are rebuilt and "
    "their pairwise masks removed). Round s = every participant's steps one after the other + the aggregator's "
    "close; client = key generation, sealing/opening share bundles, quantizing and masking (plain: encoding), "
    "summed over participants; transactions include the store put; event reads = the roles read once per step "
    "for all; close = `Coordinator.close_round`, of which the judgement (plain: validation + FedAvg; private: "
    "reading the unmask files, rebuilding every survivor's seed and every dropped mask key from t Shamir shares, "
    "each checked against its commitment and every other revealed share checked against it, then the unmasked "
    "sum) and the `finalizeRound` transaction; audit = a fresh `verify_task` (the same judgement again)."
)
GAS_NOTE = (
    "Gas per transaction (mean over participants); per participant = its four postings (plain: one); per round = "
    "every posting + `finalizeRound`."
)
CRYPTO_NOTE = (
    "Client masking and recovery at larger sizes (`benchmarks/secagg.py`'s functions): masking costs one ChaCha20 "
    "stream per peer plus the self stream; unmasking costs |U| self streams + |U| x |D| pairwise streams (U "
    "survivors, D dropped), each as long as the model, so its seconds scale with streams x parameters; the scaled "
    "rows multiply the measured time by the ratio of parameters."
)
TIME_COLUMNS = [
    "round s", "client s", "transactions s", "event reads s", "close s", "judgement s", "rebuild secrets s",
    "unmask + sum s", "finalizeRound s", "audit s", "verdict",
]  # fmt: skip


def section(
    times: list[list[object]], gases: list[list[object]], crypto: list[list[object]], model: str, footer: str
) -> str:
    head = ["round", "participants", "dropped"]
    parts = [
        "## Private rounds: cost (issue 17)",
        ROUNDS_NOTE.format(model=model),
        table(head + TIME_COLUMNS, times),
        GAS_NOTE,
        table(head + [*STEPS, "per participant", "finalizeRound", "per round"], gases),
        CRYPTO_NOTE,
        table(["step", "parameters", "setting", "seconds"], crypto),
        footer,
    ]
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: checks that the script runs (< 30 s)"
    )
    parser.add_argument("--participants", type=int, nargs="+", default=[10, 100])
    args = parser.parse_args()
    started = time.perf_counter()
    if args.quick:
        shapes, counts, model = TINY, [3, 10], "9 parameters"
        crypto = {
            "params": [1_000, 10_000],
            "peers": [2, 9],
            "unmask_params": [1_000],
            "registered": 10,
            "big": 0,
        }
    else:
        shapes, counts, model = MNIST_2NN, args.participants, MNIST_2NN_NAME
        crypto = {"params": [1_700_000, 25_000_000], "peers": [9, 99], "unmask_params": [1_700_000]}
        crypto |= {"registered": 100, "big": 25_000_000}
    w3 = connect(EMBEDDED)
    costs: list[RoundCost] = []
    for n in counts:
        costs.append(measure_round(w3, shapes, n, private=False))
        costs.append(measure_round(w3, shapes, n, private=True))
        print(f"{n} participants measured ({time.perf_counter() - started:.0f} s)", flush=True)
    for share in (0.1, 0.3):
        costs.append(measure_round(w3, shapes, counts[-1], private=True, dropped=round(share * counts[-1])))
    print(f"dropout rounds measured ({time.perf_counter() - started:.0f} s)", flush=True)
    times, gases = round_rows(costs)
    rows = crypto_rows(**crypto)  # type: ignore[arg-type]
    command = "python benchmarks/privacy_cost.py" + (" --quick" if args.quick else "")
    footer = f"<sub>`{command}`, {machine()}, {time.perf_counter() - started:.0f} s.</sub>"
    body = section(times, gases, rows, model, footer)
    print(body)
    write_section("privacy-cost", body)


if __name__ == "__main__":
    main()
