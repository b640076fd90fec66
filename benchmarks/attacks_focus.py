"""`benchmarks/attacks.py --focus bikes5`: one attacker of five on bikes, and why each rule does what it does.

Runs the attack harness (`fedledger/demo/attacks.py`) with 5 participants on the non-IID month split, one attacker
(participant 0), 5 rounds, fixed seeds, and watches every round through the harness's ``on_round`` hook: how far
the rule's step lands from the honest updates' mean and median, how spread out the honest updates are, and on which
side of the honest median the attacker pulls. Issue 16, item 4.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from report import table  # type: ignore[import-not-found]

from fedledger import codec
from fedledger.demo.attacks import AttackRun, RoundTrace, run_attack
from fedledger.rules.strategies import FedAvg
from fl_node.data import DatasetSplit, load_dataset, partition_indices
from fl_node.model import model_config_for
from fl_node.train import TrainConfig, evaluate, predict

RULES = ("fedavg", "fedavg:clip=5.0", "median", "trimmed_mean:beta=0.2", "krum:f=1", "multikrum:f=1")
ATTACKS = (None, "scaled100", "noise1e37")
IID_RULES = ("fedavg:clip=5.0", "median", "trimmed_mean:beta=0.2")
DEMO_RULES = ("fedavg:clip=5.0", "median")  # also with the demo's local training (TrainConfig defaults)
SPLITS = {"non-IID": (False, None), "IID": (True, None), "non-IID, demo training": (False, TrainConfig())}
CLIP = 5.0  # the harness's clip (benchmarks/attacks.py RULES)
ROUNDS, PARTICIPANTS, FRACTION = 5, 5, 0.2
F64 = npt.NDArray[np.float64]


def flat(tensors: codec.Tensors) -> F64:
    return np.concatenate([np.asarray(tensors[k], np.float64).reshape(-1) for k in sorted(tensors)])


def unflat(vector: F64, like: codec.Tensors) -> codec.Tensors:
    out, at = {}, 0
    for k in sorted(like):
        size = like[k].size
        out[k] = vector[at : at + size].reshape(like[k].shape).astype(np.float32)
        at += size
    return out


@dataclass
class Probe:
    """Per-round measurements of one run, taken from the harness's ``on_round`` traces."""

    split: DatasetSplit
    rows: list[dict[str, float]] = field(default_factory=list)
    final_bias: float = math.nan  # mean(predicted - actual) rentals/hour of the last model
    previous_attacker: F64 | None = None  # the attacker's update - base in the previous round

    def __call__(self, trace: RoundTrace) -> None:
        base = flat(trace.base)
        deltas = np.stack([flat(u) - base for u in trace.updates])
        honest, step = deltas[trace.attackers :], flat(trace.model) - base
        mean, median = honest.mean(axis=0), np.median(honest, axis=0)
        norm = float(np.linalg.norm(mean))
        row = {
            "round": trace.round_index,
            "rmse": self.rmse(trace.model),
            "honest_step": norm,
            "spread": float(np.mean([np.linalg.norm(h - mean) for h in honest])) / norm,
            "off_mean": float(np.linalg.norm(step - mean)) / norm if np.all(np.isfinite(step)) else math.inf,
            "off_median": float(np.linalg.norm(step - median)) / norm
            if np.all(np.isfinite(step))
            else math.inf,
            "rmse_honest_mean": self.rmse(unflat(base + mean, trace.base)),
            "rmse_honest_median": self.rmse(unflat(base + median, trace.base)),
            "honest_norm": float(np.mean([np.linalg.norm(h) for h in honest])),
        }
        if trace.attackers:
            attacker = deltas[0]
            row["attacker_norm"] = float(np.linalg.norm(attacker))
            before = self.previous_attacker
            if before is not None and np.all(np.isfinite(attacker)):
                cosine = attacker @ before / (np.linalg.norm(attacker) * np.linalg.norm(before))
                row["attacker_cos_prev"] = float(cosine)
            self.previous_attacker = attacker
            row["extreme"] = float(
                np.mean((attacker >= deltas.max(axis=0)) | (attacker <= deltas.min(axis=0)))
            )
            clipped = FedAvg(CLIP).aggregate(trace.base, [(u, 1) for u in trace.updates[trace.attackers :]])
            row["rmse_honest_clipped"] = self.rmse(clipped.tensors)
        self.rows.append(row)
        model_cfg = model_config_for(self.split)
        if np.all(np.isfinite(flat(trace.model))):
            out = np.expm1(predict(trace.model, model_cfg, self.split.x_test).astype(np.float64).reshape(-1))
            self.final_bias = float(np.mean(out - np.expm1(self.split.y_test.astype(np.float64))))
        else:
            self.final_bias = math.nan

    def rmse(self, tensors: codec.Tensors) -> float:
        if not all(np.all(np.isfinite(v)) for v in tensors.values()):
            return math.inf
        with np.errstate(all="ignore"):
            return evaluate(tensors, self.split).value


Key = tuple[str, str | None, str]  # rule, attack (None: clean), split name
Results = dict[Key, tuple[float, "Probe", int]]


def run_one(split: DatasetSplit, rule: str, attack: str | None, layout: str) -> tuple[float, Probe, int]:
    probe = Probe(split)
    iid, training = SPLITS[layout]
    run = AttackRun(
        dataset="bikes",
        participants=PARTICIPANTS,
        rounds=ROUNDS,
        strategy=rule,
        attack=attack,
        fraction=FRACTION if attack else 0.0,
        iid=iid,
        training=training,
    )
    with np.errstate(all="ignore"):
        result = run_attack(run, on_round=probe)
    return result.metric, probe, result.failed_rounds


def cell(value: float, failed: int = 0) -> str:
    text = f"{value:.1f}" if math.isfinite(value) else ("inf" if value > 0 else "nan")
    return text + (f" ({failed} failed)" if failed else "")


def run_focus() -> str:
    """Run the grid and the probes; return the Markdown body of the section (tables and explanation)."""
    split = load_dataset("bikes", seed=0)
    grid = {"non-IID": RULES, "IID": IID_RULES, "non-IID, demo training": DEMO_RULES}
    results: Results = {}
    for layout, rules in grid.items():
        for rule in rules:
            for attack in ATTACKS:
                results[rule, attack, layout] = run_one(split, rule, attack, layout)
                metric, _, failed = results[rule, attack, layout]
                print(layout, rule, attack or "clean", cell(metric, failed), flush=True)
    months = [sorted({int(m) for m in split.group_train[r]}) for r in partition_indices(split, PARTICIPANTS)]
    heads = ["rule", "split", "clean", "scaled100 (x100)", "noise1e37 (N(0,1) x 1e37)"]
    main = [
        [rule, layout, *(cell(results[rule, a, layout][0], results[rule, a, layout][2]) for a in ATTACKS)]
        for layout, rules in grid.items()
        for rule in rules
    ]
    return "\n\n".join(
        [
            table(heads, main),
            f"Months per participant (non-IID): {months}; participant 0 attacks.",
            explanation(results),
            rounds_table(results),
            median_table(results),
            clip_table(results),
        ]
    )


def explanation(results: Results) -> str:
    """The section's reading of the tables, with the numbers of this run."""

    def final(rule: str, attack: str | None, layout: str = "non-IID") -> str:
        return cell(results[rule, attack, layout][0])

    med = results["median", "scaled100", "non-IID"][1].rows
    off = [r["off_median"] for r in med]
    spread = [r["spread"] for r in med]
    per_round = [r["rmse"] - r["rmse_honest_median"] for r in med]
    clip = results["fedavg:clip=5.0", "noise1e37", "non-IID"][1].rows
    late = [r["off_mean"] * r["honest_step"] for r in clip[2:]]
    honest = [r["honest_norm"] for r in clip[2:]]
    bias = results["median", "scaled100", "non-IID"][1].final_bias
    iid_spread = [r["spread"] for r in results["median", "scaled100", "IID"][1].rows]
    clean = [r["rmse"] for r in results["median", None, "non-IID"][1].rows]
    swing = max(abs(b - a) for a, b in itertools.pairwise(clean[1:]))
    noisy = results["median", "noise1e37", "non-IID"][1].rows[-1]
    noise_cos = cosines(results["fedavg:clip=5.0", "noise1e37", "non-IID, demo training"][1])
    scaled_cos = cosines(results["fedavg:clip=5.0", "scaled100", "non-IID, demo training"][1])
    demo_honest = [
        r["honest_norm"]
        for r in results["fedavg:clip=5.0", "noise1e37", "non-IID, demo training"][1].rows[2:]
    ]
    scaled_last = results["fedavg:clip=5.0", "scaled100", "non-IID, demo training"][1].rows[-1]
    noise_last = results["fedavg:clip=5.0", "noise1e37", "non-IID, demo training"][1].rows[-1]
    ratio = results["median", "scaled100", "non-IID"][0] / results["median", None, "non-IID"][0]
    verdict = "Issue 16's 87.7 -> 223 is not reproduced here" if ratio < 1.5 else "Reproduced"
    return (
        f"**Reading.** *Median.* {verdict}: one x100 attacker of five moves the median from "
        f"{final('median', None)} to {final('median', 'scaled100')} (non-IID), {final('median', None, 'IID')} to "
        f"{final('median', 'scaled100', 'IID')} (IID), {final('median', None, 'non-IID, demo training')} to "
        f"{final('median', 'scaled100', 'non-IID, demo training')} with the demo's local training. The rule bounds "
        "the harm by construction: the attacker is the largest or smallest of the five on "
        f"{min(r['extreme'] for r in med):.0%}-{max(r['extreme'] for r in med):.0%} of the coordinates, so the "
        "median there is the 2nd or 3rd of the 4 honest values, whatever the scale (x100 or 1e37 alike). That "
        "order-statistic shift is real and grows as the honest updates disagree: the step lands "
        f"{min(off):.2f}-{max(off):.2f} honest-mean-step lengths from the honest median, while the honest updates "
        f"lie {min(spread):.2f}-{max(spread):.2f} such lengths from their own mean (non-IID months; "
        f"{min(iid_spread):.2f}-{max(iid_spread):.2f} with IID slices). It does not accumulate: each round's RMSE "
        "is within "
        f"{min(per_round):+.1f}..{max(per_round):+.1f} of the honest-median step from the same base, and the next "
        f"round's honest updates pull it back (final mean error {bias:+.1f} rentals/hour, no drift toward the "
        "attacker's winter months, which would show as under-prediction). From round 2 on, the clean non-IID "
        f"median's RMSE moves by up to {swing:.1f} from one round to the next, so one final number is a noisy "
        "witness. With 1e37 noise the attacker's side is random per coordinate; the median then mixes 2nd and "
        "3rd honest values at random, which cost the last round here: "
        f"{cell(noisy['rmse'])} against {cell(noisy['rmse_honest_median'])} for the honest median from the same "
        "base. For small "
        "non-IID federations `multikrum:f=1` (rejects the attacker in every round: "
        f"{final('multikrum:f=1', 'scaled100')} under both attacks) or `trimmed_mean:beta=0.2` (drops the "
        f"attacker's value on every coordinate: {final('trimmed_mean:beta=0.2', 'scaled100')} / "
        f"{final('trimmed_mean:beta=0.2', 'noise1e37')}) are the better choices; `krum:f=1` keeps one participant's "
        f"months and is poor even clean ({final('krum:f=1', None)}).\n\n"
        f"*fedavg:clip={CLIP}.* The attacker's update has norm {clip[0].get('attacker_norm', math.nan):.2g}; "
        f"clipped to {CLIP} and weighted about 1/{PARTICIPANTS}, it moves the model by at most "
        f"{CLIP / PARTICIPANTS:.1f} per round, in a random direction: measured "
        f"{min(late):.2f}-{max(late):.2f} from the honest mean step in rounds 3-5, where the honest updates' own "
        f"norm is {min(honest):.2f}-{max(honest):.2f} (round 1's honest updates, about 7, are clipped too). So "
        "the noise is bounded but as large as the learning signal itself; how much RMSE it costs depends on how "
        "large the honest steps are: with the harness's training "
        f"{final('fedavg:clip=5.0', None)} -> {final('fedavg:clip=5.0', 'noise1e37')}, with the demo's smaller "
        f"steps {final('fedavg:clip=5.0', None, 'non-IID, demo training')} -> "
        f"{final('fedavg:clip=5.0', 'noise1e37', 'non-IID, demo training')}. A clip at about the honest updates' "
        "norm keeps the push to about 1/n of an honest update (the honest norm shrinks as training converges, "
        "so a fixed C grows relatively loose); a clip is a per-update bound, not a "
        "filter, so a persistent attacker always costs up to C/n per round, and harms most once C/n exceeds the "
        f"honest step (with the demo's training the honest norms fall to {min(demo_honest):.2f}-"
        f"{max(demo_honest):.2f} in rounds 3-5). The push also matters more when it is a trained direction: the "
        f"x100 update is the attacker's own winter training scaled (its direction still turns between rounds, "
        f"cosine {scaled_cos}; noise: {noise_cos}), and in round 5 it leaves the model at "
        f"{cell(scaled_last['rmse'])} against {cell(scaled_last['rmse_honest_clipped'])} for the 4 honest "
        f"updates clipped from the same base, where noise of the same norm leaves {cell(noise_last['rmse'])} "
        f"against {cell(noise_last['rmse_honest_clipped'])}: "
        f"{final('fedavg:clip=5.0', None, 'non-IID, demo training')} -> "
        f"{final('fedavg:clip=5.0', 'scaled100', 'non-IID, demo training')} under x100."
    )


def cosines(probe: Probe) -> str:
    values = [r["attacker_cos_prev"] for r in probe.rows if "attacker_cos_prev" in r]
    return f"{min(values):.2f} to {max(values):.2f}" if values else "n/a"


def rounds_table(results: Results) -> str:
    picks: list[Key] = [
        ("median", None, "non-IID"),
        ("median", "scaled100", "non-IID"),
        ("median", "noise1e37", "non-IID"),
        ("median", None, "IID"),
        ("median", "scaled100", "IID"),
        ("fedavg:clip=5.0", None, "non-IID"),
        ("fedavg:clip=5.0", "noise1e37", "non-IID"),
        ("fedavg:clip=5.0", None, "non-IID, demo training"),
        ("fedavg:clip=5.0", "noise1e37", "non-IID, demo training"),
        ("fedavg:clip=5.0", "scaled100", "non-IID, demo training"),
        ("trimmed_mean:beta=0.2", "scaled100", "non-IID"),
        ("multikrum:f=1", "scaled100", "non-IID"),
    ]
    rows = [
        [rule, attack or "clean", layout, *(cell(r["rmse"]) for r in results[rule, attack, layout][1].rows)]
        for rule, attack, layout in picks
    ]
    heads = ["rule", "attack", "split", *(f"r{i}" for i in range(1, ROUNDS + 1))]
    return "RMSE after each round\n\n" + table(heads, rows)


def median_table(results: Results) -> str:
    rows = []
    picks: list[tuple[str | None, str]] = [
        (None, "non-IID"),
        ("scaled100", "non-IID"),
        ("noise1e37", "non-IID"),
        (None, "IID"),
        ("scaled100", "IID"),
    ]
    for attack, layout in picks:
        for r in results["median", attack, layout][1].rows:
            rows.append(
                [
                    attack or "clean",
                    layout,
                    int(r["round"]),
                    f"{r['honest_step']:.2f}",
                    f"{r['spread']:.2f}",
                    f"{r['off_median']:.2f}",
                    f"{r.get('extreme', math.nan):.2f}",
                    cell(r["rmse_honest_median"]),
                    cell(r["rmse"]),
                ]
            )
    heads = [
        "attack",
        "split",
        "round",
        "honest mean step (L2)",
        "honest spread",
        "dist(step, honest median)",
        "attacker extreme",
        "RMSE honest-median step",
        "RMSE median step",
    ]
    return (
        "Median, per round (spread and distances relative to the honest mean step; honest: the 4 non-attackers, "
        "all 5 when clean; attacker extreme: share of coordinates where the attacker is the largest or smallest "
        "of the 5, so that the median is the honest order statistic on its side; RMSE honest-median step: the "
        "same base moved by the honest updates' median instead)\n\n" + table(heads, rows)
    )


def clip_table(results: Results) -> str:
    rows = []
    for attack, layout in (
        (None, "non-IID"),
        ("noise1e37", "non-IID"),
        ("noise1e37", "non-IID, demo training"),
        ("scaled100", "non-IID, demo training"),
    ):
        for r in results["fedavg:clip=5.0", attack, layout][1].rows:
            rows.append(
                [
                    attack or "clean",
                    layout,
                    int(r["round"]),
                    f"{r['honest_norm']:.2f}",
                    f"{r.get('attacker_norm', math.nan):.3g}",
                    f"{r.get('attacker_cos_prev', math.nan):.2f}",
                    f"{r['off_mean'] * r['honest_step']:.2f}",
                    cell(r.get("rmse_honest_clipped", math.nan)),
                    cell(r["rmse"]),
                ]
            )
    heads = [
        "attack",
        "split",
        "round",
        "mean honest norm",
        "attacker norm",
        "cos(attacker, its previous round)",
        "dist(step, honest mean step)",
        "RMSE 4 honest clipped",
        "RMSE round model",
    ]
    return f"fedavg:clip={CLIP}, per round (L2 norms of update - base)\n\n" + table(heads, rows)
