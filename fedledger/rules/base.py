"""What every aggregation rule shares: the ``Strategy`` protocol, its result (``Aggregate``), and two helpers.

``fedledger.rules.strategies`` (FedAvg, FedSGD, ``strategy_from_spec``) and ``fedledger.rules.robust`` (median,
trimmed mean, Krum) both stand on this module and on nothing of each other's but ``strategy_from_spec``'s
import of the robust rules, so the two never import each other in a circle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from fedledger.codec import Tensors

F64 = npt.NDArray[np.float64]
Update = tuple[Tensors, int]


class NoUpdatesError(ValueError):
    """A rule was given no updates at all (every candidate of the round was excluded)."""


class InsufficientUpdatesError(ValueError):
    """A rule was given fewer updates than it needs (Krum: 2f + 3)."""


@dataclass(frozen=True)
class Aggregate:
    """What a rule made of a round's valid updates."""

    tensors: Tensors  # the next global model, float32, names sorted
    rejected: tuple[int, ...] = ()  # positions (in the order given) the rule left out as outliers
    weights: tuple[float, ...] = ()  # effective weight of each position (0.0 when rejected)
    scores: tuple[float, ...] = ()  # each position's score, for rules that rank updates (Krum: lower is kept)


class Strategy(Protocol):
    """One aggregation rule; ``strategy_from_spec(s.spec) == s``."""

    @property
    def spec(self) -> str:
        """The canonical spec string recorded with the task."""
        ...

    @property
    def streams(self) -> bool:
        """True when ``aggregate`` consumes the updates one at a time (memory O(model))."""
        ...

    def min_updates(self) -> int:
        """The fewest valid updates the rule can aggregate."""
        ...

    def aggregate(self, base: Tensors, updates: Iterable[Update]) -> Aggregate:
        """Combine ``(tensors, num_samples)`` pairs, already in canonical order, into the next model."""
        ...


def check_against_base(base: Tensors, combined: Mapping[str, npt.NDArray[np.generic]]) -> None:
    """The combined tensors have exactly the base model's names and shapes."""
    for name, value in combined.items():
        if name not in base or np.shape(base[name]) != value.shape:
            raise ValueError(f"updates do not match the base model at tensor {name!r}")
    if set(base) != set(combined):
        raise ValueError(f"updates lack tensors of the base model: {sorted(set(base) - set(combined))}")


def to_float32(tensors: Mapping[str, F64]) -> Tensors:
    return {name: tensors[name].astype(np.float32) for name in sorted(tensors)}
