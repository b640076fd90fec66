"""Private rounds (issue 17): what an outsider learns about a participant, and what privacy costs in accuracy.

Measured in-process: the chain only carries digests, so the maths decides. Every private aggregate goes through the
real secure-aggregation path (``encode_update`` -> ``dp.add_noise`` -> ``mask_update`` -> ``aggregate_private``,
which applies the mean with ``apply_mean``), so clipping, quantization and the noise are all included.

Leakage: membership inference by loss drop (score(x) = loss_base(x) - loss_after(x), "after" = base + the delta the
attacker can see), AUC of a victim's training images against as many unseen test images. Utility: FedAvg on MNIST
with the 2NN, rounds to 97% test accuracy (or the accuracy at the round cap), plain vs secure aggregation vs secure
aggregation with distributed discrete Gaussian noise (Kairouz et al. 2021, arXiv 2102.06387).

`python benchmarks/privacy.py [--quick]`; prints the tables and rewrites the `privacy` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from report import machine, table, write_section  # type: ignore[import-not-found]

from fedledger.codec import Tensors
from fedledger.privacy.masks import RoundRef, generate_keypair, mask_update, new_self_seed
from fedledger.privacy.quantize import QuantParams, clip, encode_update, l2_norm
from fedledger.privacy.unmask import aggregate_private
from fl_node.data import DatasetSplit, load_dataset, partition_indices
from fl_node.model import ModelConfig, build_model, initial_model, load_tensors, model_config_for
from fl_node.threads import configure_torch_threads
from fl_node.train import TrainConfig, evaluate, train_local

F32 = npt.NDArray[np.float32]
DELTA = 1e-5
SCALE_BITS = 16

try:
    from fedledger.privacy import dp as DP  # type: ignore[attr-defined]
except ImportError:  # FALLBACK until fedledger.privacy.dp lands: continuous stand-ins for the same API
    DP = None


@dataclass(frozen=True)
class FallbackDpParams:
    """FALLBACK stand-in for ``fedledger.privacy.dp.DpParams``."""

    noise_multiplier: float
    delta: float
    threshold: int


class FallbackDp:
    """FALLBACK for ``fedledger.privacy.dp``: a rounded float Gaussian on the words, Gaussian RDP accounting.

    Sensitivity in integer units: weight_cap * (clip * 2^b + sqrt(dim) / 2) (rounding moves each coordinate by at
    most 1/2); each participant adds sd z * sensitivity / sqrt(threshold), so any ``threshold`` survivors sum to a
    Gaussian of multiplier z; epsilon from the RDP of the Gaussian, alpha(R / (2 z^2)) + log(1/delta) / (alpha - 1).
    """

    DpParams = FallbackDpParams

    @staticmethod
    def participant_sigma(dp: FallbackDpParams, quant: QuantParams, dim: int) -> float:
        sensitivity = quant.weight_cap * (quant.clip * quant.scale + math.sqrt(dim) / 2)
        return dp.noise_multiplier * sensitivity / math.sqrt(dp.threshold)

    @staticmethod
    def add_noise(
        words: npt.NDArray[np.uint32], sigma: float, rng: np.random.Generator
    ) -> npt.NDArray[np.uint32]:
        noise = np.rint(rng.normal(0.0, sigma, len(words))).astype(np.int64)
        return ((words.astype(np.int64) + noise) & 0xFFFFFFFF).astype(np.uint32)

    @staticmethod
    def epsilon_after(dp: FallbackDpParams, quant: QuantParams, dim: int, rounds: int) -> float:
        z = dp.noise_multiplier
        alphas = np.linspace(1.01, 512, 20000)
        return float(np.min(rounds * alphas / (2 * z * z) + math.log(1 / dp.delta) / (alphas - 1)))


DPM: Any = DP if DP is not None else FallbackDp
DP_SOURCE = "fedledger.privacy.dp" if DP is not None else "FALLBACK (rounded float Gaussian, Gaussian RDP)"


# ClientUpdate of the attacked rounds (the FedAvg paper's E = 5, B = 10, lr 0.1) and of the utility run (the
# settings of benchmarks/mnist.py, fl_node.train.MNIST_2NN_TRAIN): plain SGD
ATTACK_TRAIN = TrainConfig(epochs=5, batch_size=10, lr=0.1, momentum=0.0)
UTILITY_TRAIN = TrainConfig(epochs=1, batch_size=10, lr=0.2, momentum=0.0)


@dataclass(frozen=True)
class Setting:
    """Sizes of one run; ``FULL`` is the measured one, ``QUICK`` the smoke test."""

    clients: int = 100  # IID shards of 60,000 / clients images
    per_round: int = 10  # N: participants of a round (the secure-aggregation cohort)
    groups: int = 5  # leakage: independent rounds, one victim each
    base_rounds: int = 3  # leakage: public base = plain FedAvg rounds from the initial model (other clients)
    attack_train: TrainConfig = ATTACK_TRAIN
    attack_clip: float = 10.0
    max_rounds: int = 80  # utility: round cap
    utility_train: TrainConfig = UTILITY_TRAIN
    utility_clip: float = 5.0
    threshold: int = 6  # t > N/2: the DP noise suffices whenever t participants survive
    epsilons: tuple[float, ...] = (8.0, 2.0)
    target: float = 0.97


FULL = Setting()
QUICK = Setting(
    clients=200, per_round=3, groups=2, base_rounds=1, max_rounds=3, threshold=2,
    attack_train=TrainConfig(epochs=1, batch_size=50, lr=0.1, momentum=0.0),
    utility_train=TrainConfig(epochs=1, batch_size=50, lr=0.2, momentum=0.0),
)  # fmt: skip


def address(i: int) -> str:
    return f"0x{i + 1:040x}"


def flatten(tensors: Tensors) -> F32:
    """The flat layout of private rounds: tensors in sorted-name order."""
    return np.concatenate([np.asarray(tensors[k], np.float32).ravel() for k in sorted(tensors)])


def unflatten(flat: F32, like: Tensors) -> Tensors:
    out, at = {}, 0
    for name in sorted(like):
        size = like[name].size
        out[name] = flat[at : at + size].reshape(like[name].shape).astype(np.float32)
        at += size
    return out


def private_mean(
    base: F32, deltas: Sequence[F32], samples: int, quant: QuantParams, sigma: float, rng: np.random.Generator,
    round_id: int,
) -> F32:  # fmt: skip
    """The next model of a private round with every participant surviving: encode, noise, mask, unmask, apply."""
    ref = RoundRef(1, round_id)
    people = [address(i) for i in range(len(deltas))]
    keys = {a: generate_keypair() for a in people}
    public = {a: k.public for a, k in keys.items()}
    seeds = {a: new_self_seed() for a in people}
    masked = {}
    for a, delta in zip(people, deltas, strict=True):
        words = encode_update(delta, samples, quant)
        if sigma > 0:
            words = DPM.add_noise(words, sigma, rng)
        peers = {p: k for p, k in public.items() if p != a}
        masked[a] = mask_update(words, a, keys[a], peers, seeds[a], ref)
    counts = dict.fromkeys(people, samples)
    return aggregate_private(base, masked, counts, public, seeds, {}, ref, quant).model


def quant_params(clip: float, n: int) -> QuantParams:
    # weight_cap 1: every shard holds the same number of images, so FedAvg's n_k weights are equal anyway
    return QuantParams(clip=clip, scale_bits=SCALE_BITS, weight_cap=1, max_participants=n)


def noise_for(epsilon: float, quant: QuantParams, dim: int, rounds: int, threshold: int) -> Any:
    """The DpParams whose noise multiplier gives ``epsilon`` after ``rounds`` (bisection on ``epsilon_after``)."""
    low, high = 0.05, 200.0
    for _ in range(60):
        mid = math.sqrt(low * high)
        spent = DPM.epsilon_after(DPM.DpParams(mid, DELTA, threshold), quant, dim, rounds)
        low, high = (mid, high) if spent > epsilon else (low, mid)
    return DPM.DpParams(high, DELTA, threshold)


def per_example_loss(tensors: Tensors, cfg: ModelConfig, x: F32, y: F32) -> npt.NDArray[np.float64]:
    model = build_model(cfg, 0)
    load_tensors(model, tensors)
    model.eval()
    with torch.no_grad():
        out = model(torch.tensor(x))
        return F.cross_entropy(out, torch.tensor(y).long(), reduction="none").double().numpy()


def auc(members: npt.NDArray[np.float64], others: npt.NDArray[np.float64]) -> float:
    """P(score of a member > score of a non-member), ties counting one half (Mann-Whitney)."""
    diff = members[:, None] - others[None, :]
    return float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))


@dataclass
class Federation:
    split: DatasetSplit
    cfg: ModelConfig
    shards: list[npt.NDArray[np.int64]]
    init: Tensors

    def train(self, base: Tensors, k: int, train: TrainConfig, seed: int) -> F32:
        rows = self.shards[k]
        x, y = self.split.x_train[rows], self.split.y_train[rows]
        local = train_local(base, self.cfg, x, y, "classification", replace(train, seed=seed))
        return flatten(local) - flatten(base)

    def accuracy(self, flat: F32) -> float:
        return evaluate(unflatten(flat, self.init), self.split, self.cfg).value


def sample(setting: Setting, round_: int, pool: Sequence[int]) -> list[int]:
    """The clients of a round: the same for every configuration (seeded by the round alone)."""
    rng = np.random.default_rng(10_000 + round_)
    return sorted(int(k) for k in rng.choice(pool, setting.per_round, replace=False))


def fedavg_step(fed: Federation, base: F32, clients: Sequence[int], train: TrainConfig, round_: int) -> F32:
    tensors = unflatten(base, fed.init)
    deltas = [fed.train(tensors, k, train, round_ * 1000 + k) for k in clients]
    return (base.astype(np.float64) + np.mean(deltas, axis=0)).astype(np.float32)


def public_base(fed: Federation, setting: Setting) -> F32:
    """The attacker's (and everyone's) base model: a few plain FedAvg rounds over clients outside the victims'."""
    base = flatten(fed.init)
    pool = list(range(setting.groups * setting.per_round, setting.clients))
    for r in range(1, setting.base_rounds + 1):
        base = fedavg_step(fed, base, sample(setting, r, pool), setting.utility_train, r)
    return base


def leakage(fed: Federation, setting: Setting, noises: Sequence[tuple[str, Any]]) -> list[list[object]]:
    """AUC of the loss-drop attack per view of a round, over ``setting.groups`` rounds with one victim each."""
    base = public_base(fed, setting)
    base_t = unflatten(base, fed.init)
    n = setting.per_round
    quant = quant_params(setting.attack_clip, n)
    dim = len(base)
    rng = np.random.default_rng(2)
    scores: dict[str, list[float]] = {}
    accuracy: dict[str, list[float]] = {}
    norms: list[float] = []
    for g in range(setting.groups):
        clients = list(range(g * n, (g + 1) * n))
        deltas = [fed.train(base_t, k, setting.attack_train, 7000 + k) for k in clients]
        norms += [l2_norm(d) for d in deltas]
        rows = fed.shards[clients[0]]  # the victim
        unseen = np.arange(g * len(rows), (g + 1) * len(rows))
        views: dict[str, F32] = {
            "plain round: the victim's own update": base + deltas[0],
            f"mean of the {n} updates, float (no secure aggregation)": (
                base.astype(np.float64) + np.mean(deltas, axis=0)
            ).astype(np.float32),
            f"private round: secure aggregate of {n}": private_mean(
                base, deltas, len(rows), quant, 0.0, rng, 100 + g
            ),
        }
        for label, dp in noises:
            sigma = DPM.participant_sigma(dp, quant, dim)
            views[f"private + DP, {label}"] = private_mean(
                base, deltas, len(rows), quant, sigma, rng, 100 + g
            )
        x_in, y_in = fed.split.x_train[rows], fed.split.y_train[rows]
        x_out, y_out = fed.split.x_test[unseen], fed.split.y_test[unseen]
        before_in = per_example_loss(base_t, fed.cfg, x_in, y_in)
        before_out = per_example_loss(base_t, fed.cfg, x_out, y_out)
        for view, after in views.items():
            after_t = unflatten(after, fed.init)
            drop_in = before_in - per_example_loss(after_t, fed.cfg, x_in, y_in)
            drop_out = before_out - per_example_loss(after_t, fed.cfg, x_out, y_out)
            scores.setdefault(view, []).append(auc(drop_in, drop_out))
            accuracy.setdefault(view, []).append(fed.accuracy(after))
    clipped = float(np.mean(np.asarray(norms) > setting.attack_clip))
    print(
        f"leakage: update norms {np.min(norms):.2f}..{np.max(norms):.2f}, {clipped:.0%} clipped", flush=True
    )
    return [
        [view, f"{np.mean(s):.3f} ± {np.std(s):.3f}", f"{np.mean(accuracy[view]):.4f}"]
        for view, s in scores.items()
    ] + [["(update norms, clip)", f"{np.min(norms):.2f}..{np.max(norms):.2f}", f"clip {setting.attack_clip}"]]


@dataclass
class Run:
    name: str
    sigma: float | None  # None: plain float FedAvg; 0: secure aggregation without noise
    epsilon: str = "-"
    curve: list[float] | None = None
    quant_error: float = 0.0  # max |secure mean - float mean of the clipped updates|, over all rounds
    clipped: int = 0  # updates longer than the clip norm
    diverged: int | None = None  # the round whose local training no longer gave finite updates
    noise_norm: float = 0.0  # expected L2 norm of the noise in the mean update
    delta_norm: list[float] | None = None  # L2 norm of the float mean update, per round


def utility_run(fed: Federation, setting: Setting, run: Run, quant: QuantParams) -> Run:
    base = flatten(fed.init)
    rng = np.random.default_rng(3)
    run.curve, run.delta_norm = [fed.accuracy(base)], []
    pool = list(range(setting.clients))
    samples = len(fed.shards[0])
    for r in range(1, setting.max_rounds + 1):
        tensors = unflatten(base, fed.init)
        deltas = [
            fed.train(tensors, k, setting.utility_train, r * 1000 + k) for k in sample(setting, r, pool)
        ]
        if not all(np.isfinite(d).all() for d in deltas):
            run.diverged = r  # local training on the noisy model overflowed: no update can be encoded
            break
        mean = np.mean(deltas, axis=0)
        run.delta_norm.append(float(np.linalg.norm(mean)))
        if run.sigma is None:
            new = (base.astype(np.float64) + mean).astype(np.float32)
        else:
            new = private_mean(base, deltas, samples, quant, run.sigma, rng, r)
            if run.sigma == 0:
                clipped = np.mean([clip(d, quant) for d in deltas], axis=0)
                err = np.abs(new.astype(np.float64) - base.astype(np.float64) - clipped).max()
                run.quant_error = max(run.quant_error, float(err))
                run.clipped += sum(l2_norm(d) > quant.clip for d in deltas)
        base = new
        run.curve.append(fed.accuracy(base))
    return run


def utility(fed: Federation, setting: Setting) -> tuple[list[Run], list[tuple[str, Any]], QuantParams]:
    """Plain FedAvg, secure aggregation, and secure aggregation + DP at each epsilon, same clients and seeds."""
    n, dim = setting.per_round, len(flatten(fed.init))
    quant = quant_params(setting.utility_clip, n)
    runs = [
        Run("plain FedAvg (float)", None),
        Run(f"secure aggregation (clip {quant.clip}, 2^-{SCALE_BITS})", 0.0),
    ]
    noises = []
    for eps in setting.epsilons:
        dp = noise_for(eps, quant, dim, setting.max_rounds, setting.threshold)
        sigma = DPM.participant_sigma(dp, quant, dim)
        label = f"z = {dp.noise_multiplier:.2f}"
        noises.append((label, dp))
        if hasattr(DPM, "check_headroom"):  # the real module refuses noise that could wrap the 32-bit sum
            DPM.check_headroom(dp, quant, dim, n)
        one = DPM.epsilon_after(dp, quant, dim, 1)
        run = Run(f"secure aggregation + DP, {label}", sigma, f"{eps:g} ({one:.2f} a round)")
        run.noise_norm = math.sqrt(n * dim) * sigma / (n * quant.scale)
        runs.append(run)
    for run in runs:
        started = time.perf_counter()
        utility_run(fed, setting, run, quant)
        print(f"utility: {run.name}: {run.curve[-1]:.4f} ({time.perf_counter() - started:.0f} s)", flush=True)  # type: ignore[index]
    return runs, noises, quant


def not_reached(run: Run, setting: Setting) -> str:
    if run.diverged is None:
        return f"not within {setting.max_rounds}"
    return f"no: diverged, round {run.diverged} (updates overflow)"


def utility_rows(runs: Sequence[Run], setting: Setting) -> list[list[object]]:
    rows: list[list[object]] = []
    for run in runs:
        curve = run.curve or [0.0]
        reached = next((r for r, acc in enumerate(curve) if acc >= setting.target), None)
        rows.append([
            run.name,
            run.epsilon,
            reached if reached is not None else not_reached(run, setting),
            f"{curve[-1]:.4f}",
            f"{max(curve):.4f}",
            f"{np.mean(curve[-20:]):.4f}",
            f"{run.noise_norm:.3g}" if run.sigma else "-",
        ])  # fmt: skip
    return rows


def cohort_note(runs: Sequence[Run], setting: Setting) -> str:
    """How many participants a round would shrink each run's noise to the size of the plain mean update."""
    signal = (runs[0].delta_norm or [1.0])[-1]
    needed = " and ".join(
        f"about {math.ceil(setting.per_round * run.noise_norm / signal):,} for epsilon {run.epsilon.split()[0]}"
        for run in runs
        if run.sigma
    )
    return (
        "With t a fixed share of N, the noise in the mean update falls as 1/N while the mean update does not: "
        f"the noise norm would equal the plain run's last mean update ({signal:.2f}) with N = {needed} over "
        f"{setting.max_rounds} rounds (same clip, z and t/N; not run here)."
    )


def describe(setting: Setting, quant: QuantParams, quick: bool) -> str:
    a = setting.attack_train
    images = 60_000 // setting.clients
    return (
        f"MNIST, the FedAvg paper's 2NN (784-200-200-10, 199,210 parameters), {setting.clients} IID clients of "
        f"{images} images, N = {setting.per_round} participants a round. Private rounds go through the real path: "
        f"`encode_update` (clip, x 2^{SCALE_BITS}, round half to even; weight cap 1, as every shard is the same "
        f"size), `dp.add_noise` on the words, `mask_update` against the other N - 1, `aggregate_private` "
        f"(unmask, `apply_mean`). DP: {DP_SOURCE}; threshold t = {setting.threshold} (the noise of any t "
        f"survivors suffices), delta = {DELTA:g}, epsilon from `epsilon_after` over the utility run's "
        f"{setting.max_rounds} rounds, without amplification by sampling.{' QUICK configuration.' if quick else ''}"
        f"\n\n**Leakage, as an outsider sees it** (chain + IPFS only). Public base: the initial model after "
        f"{setting.base_rounds} plain FedAvg rounds over clients that are not victims. {setting.groups} rounds of "
        f"N fresh participants, each training E = {a.epochs}, B = {a.batch_size}, lr {a.lr} (plain SGD) from that "
        f"base; the victim is one of them. Attack: score(x) = loss_base(x) - loss_after(x), after = base + what "
        f"the attacker sees; AUC of the victim's {images} training images against {images} unseen test images, "
        f"mean ± sd over the {setting.groups} victims; clip {setting.attack_clip}. DP rows use the utility run's "
        f"noise multipliers (one round of it costs the epsilon of one round, less than the run's)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny configuration (smoke test, < 30 s)")
    args = parser.parse_args()
    setting = QUICK if args.quick else FULL
    configure_torch_threads(1)
    started = time.perf_counter()
    split = load_dataset("mnist")
    fed = Federation(split, model_config_for(split), partition_indices(split, setting.clients, iid=True), {})
    fed.init = initial_model(split, seed=0, model_cfg=fed.cfg)
    runs, noises, quant = utility(fed, setting)
    leak = leakage(fed, setting, noises)
    u = setting.utility_train
    body = (
        "## Private rounds: leakage and utility (issue 17)\n\n"
        f"`python benchmarks/privacy.py{' --quick' if args.quick else ''}` ({machine()}; "
        f"{time.perf_counter() - started:.0f} s). {describe(setting, quant, args.quick)}\n\n"
        + table(["attacker sees", "membership AUC", "test accuracy of base + that"], leak)
        + f"\n\n**Utility**: FedAvg, {setting.per_round} of {setting.clients} clients a round (the same clients "
        f"and training seeds for every row), E = {u.epochs}, B = {u.batch_size}, lr {u.lr} (plain SGD), clip "
        f"{quant.clip}, up to {setting.max_rounds} rounds. Largest |secure mean - float mean of the clipped "
        f"updates| over all rounds (quantization error): {runs[1].quant_error:.2g} (bound 2^-{SCALE_BITS + 1} = "
        f"{2.0 ** -(SCALE_BITS + 1):.2g} plus the float32 cast); updates clipped: {runs[1].clipped} of "
        f"{setting.max_rounds * setting.per_round}. L2 norm of the plain run's mean update: "
        f"{(runs[0].delta_norm or [0])[0]:.2f} in round 1, {(runs[0].delta_norm or [0])[-1]:.2f} in the last; "
        "the DP noise in the mean update is a vector of the norm in the last column, every round.\n\n"
        + table(
            [
                "aggregation",
                "epsilon",
                f"rounds to {setting.target:.0%}",
                "final accuracy",
                "best accuracy",
                "mean accuracy, last 20 rounds",
                "noise L2 norm in the mean update",
            ],
            utility_rows(runs, setting),
        )
        + "\n\n"
        + cohort_note(runs, setting)
        + "\n"
    )
    print(body)
    if not args.quick or os.environ.get("FEDLEDGER_BENCHMARKS_OUT"):
        write_section("privacy", body)  # --quick writes only to a scratch file, never over measured numbers


if __name__ == "__main__":
    main()
