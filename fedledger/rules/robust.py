"""Robust aggregation rules: coordinate-wise median and trimmed mean, Krum and Multi-Krum.

They bound what a minority of dishonest participants can do to the global model, at the price of holding every
update of the round in memory at once (they do not stream): memory is N * P * 4 bytes for the N stacked float32
updates of P parameters, plus N * N distances for Krum. They weigh every update alike (claimed sample counts do
not matter, so inflating them buys nothing). Like every rule, they compute in float64 in a fixed order and cast
to float32 once.

Sorting is stable (equal values, -0.0 and +0.0 among them, keep their position order): numpy's default sort for
float32 is a SIMD sort on some CPUs that does not even keep the sign bits of zeros, so a median could differ by
machine.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fedledger.codec import Tensors
from fedledger.rules.base import (
    F64,
    Aggregate,
    InsufficientUpdatesError,
    NoUpdatesError,
    Update,
    check_against_base,
    to_float32,
)
from fedledger.rules.exact import squared_distance


def _stack(
    base: Tensors, updates: Iterable[Update]
) -> tuple[list[str], dict[str, npt.NDArray[np.float32]], int]:
    """Every update's tensors stacked per name: (names, name -> (N, *shape) float32, N)."""
    collected = [tensors for tensors, _ in updates]
    if not collected:
        raise NoUpdatesError("no updates were added")
    names = sorted(base)
    for tensors in collected:
        check_against_base(base, {k: np.asarray(v) for k, v in tensors.items()})
    stacks = {name: np.stack([np.asarray(t[name], np.float32) for t in collected]) for name in names}
    return names, stacks, len(collected)


def _mean_rows(rows: npt.NDArray[np.float32]) -> F64:
    """Mean over axis 0 adding rows one after another in float64 (a fixed order)."""
    total = np.zeros(rows.shape[1:], np.float64)
    for row in rows:
        total += row
    return total / len(rows)


@dataclass(frozen=True)
class Median:
    """Coordinate-wise median (Yin et al. 2018, "Byzantine-Robust Distributed Learning: Towards Optimal
    Statistical Rates", ICML, arXiv 1803.01498): each parameter is the median of the updates' values; with an even
    count, the mean of the two middle values. Does not stream: N * P * 4 bytes."""

    @property
    def spec(self) -> str:
        return "median"

    @property
    def streams(self) -> bool:
        return False

    def min_updates(self) -> int:
        return 1

    def aggregate(self, base: Tensors, updates: Iterable[Update]) -> Aggregate:
        names, stacks, n = _stack(base, updates)
        result: dict[str, F64] = {}
        for name in names:
            ordered = np.sort(stacks[name], axis=0, kind="stable")
            low, high = ordered[(n - 1) // 2].astype(np.float64), ordered[n // 2].astype(np.float64)
            result[name] = (low + high) / 2
        return Aggregate(to_float32(result), (), (1.0 / n,) * n)


@dataclass(frozen=True)
class TrimmedMean:
    """Coordinate-wise trimmed mean (Yin et al. 2018, arXiv 1803.01498): per parameter, drop the floor(beta * n)
    smallest and largest values and average the rest. Does not stream: N * P * 4 bytes."""

    beta: float = 0.1

    @property
    def spec(self) -> str:
        return f"trimmed_mean:beta={float(self.beta)!r}"

    @property
    def streams(self) -> bool:
        return False

    def min_updates(self) -> int:
        return 1

    def trimmed(self, n: int) -> int:
        """How many values each end drops among ``n``: floor of the float64 product beta * n (the protocol's)."""
        return math.floor(self.beta * n)

    def aggregate(self, base: Tensors, updates: Iterable[Update]) -> Aggregate:
        names, stacks, n = _stack(base, updates)
        k = self.trimmed(n)
        result = {name: _mean_rows(np.sort(stacks[name], axis=0, kind="stable")[k : n - k]) for name in names}
        return Aggregate(to_float32(result), (), (1.0 / n,) * n)


@dataclass(frozen=True)
class Krum:
    """Krum and Multi-Krum (Blanchard et al. 2017, "Machine Learning with Adversaries: Byzantine Tolerant Gradient
    Descent", NeurIPS). Each update's score is the sum of its squared distances to its n - f - 2 nearest others;
    Krum keeps the best-scored update, Multi-Krum averages the m best (m defaults to, and is capped at, n - f).
    The others are rejected (``outlier``). Needs n >= 2f + 3. Ties go to the earlier position. Does not stream:
    N * P * 4 bytes for the updates and N * N distances, computed in a fixed order (no BLAS)."""

    f: int = 1
    m: int | None = None
    multi: bool = False

    @property
    def spec(self) -> str:
        if not self.multi:
            return f"krum:f={self.f}"
        return f"multikrum:f={self.f}" + ("" if self.m is None else f",m={self.m}")

    @property
    def streams(self) -> bool:
        return False

    def min_updates(self) -> int:
        return 2 * self.f + 3

    def aggregate(self, base: Tensors, updates: Iterable[Update]) -> Aggregate:
        names, stacks, n = _stack(base, updates)
        if n < self.min_updates():
            raise InsufficientUpdatesError(
                f"{self.spec} needs at least {self.min_updates()} updates, got {n}"
            )
        flat = [np.concatenate([stacks[name][i].reshape(-1) for name in names]) for i in range(n)]
        scores = self.scores(flat)
        ranked = sorted(range(n), key=lambda i: (scores[i], i))
        keep = min(self.m or n - self.f, n - self.f) if self.multi else 1
        chosen = sorted(ranked[:keep])
        result = {name: _mean_rows(stacks[name][chosen]) for name in names}
        weights = tuple(1.0 / keep if i in chosen else 0.0 for i in range(n))
        rejected = tuple(i for i in range(n) if i not in chosen)
        return Aggregate(to_float32(result), rejected, weights, tuple(scores))

    def scores(self, flat: list[npt.NDArray[np.float32]]) -> list[float]:
        """Krum score of every update: the sum of its n - f - 2 smallest squared distances to the others."""
        n = len(flat)
        distances = [[0.0] * n for _ in range(n)]
        for i in range(n):
            for j in range(i + 1, n):
                distances[i][j] = distances[j][i] = squared_distance(flat[i], flat[j])
        nearest = n - self.f - 2
        return [math.fsum(sorted(distances[i][j] for j in range(n) if j != i)[:nearest]) for i in range(n)]
