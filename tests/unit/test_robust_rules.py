"""Robust rules and norm-clipped FedAvg: known answers computed independently, robustness against scaled updates,
independence from the order of updates, and the fixed-order sums they stand on. Determinism to the bit across
machines: tests/unit/test_golden_vectors.py."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedledger import codec
from fedledger.rules.base import InsufficientUpdatesError
from fedledger.rules.exact import fixed_sum, squared_distance, sum_of_squares
from fedledger.rules.robust import Krum, Median, TrimmedMean
from fedledger.rules.strategies import FedAvg, RunningSum, strategy_from_spec

BASE = {"w": np.zeros(4, np.float32), "b": np.zeros(2, np.float32)}


def update(*values: float) -> codec.Tensors:
    """An update whose 6 parameters are ``values`` (w: first 4, b: last 2)."""
    flat = np.asarray(values, np.float32)
    return {"w": flat[:4].copy(), "b": flat[4:].copy()}


def constant(value: float) -> codec.Tensors:
    return update(*([value] * 6))


random_values = st.lists(
    st.lists(st.floats(-1e3, 1e3, width=32), min_size=6, max_size=6), min_size=5, max_size=9
)


# --------------------------------------------------------------------------------------- known answers


@given(random_values)
@settings(max_examples=60, deadline=None)
def test_median_is_the_per_coordinate_median(rows: list[list[float]]) -> None:
    # Execute
    result = Median().aggregate(BASE, [(update(*r), 1) for r in rows])
    # Assert: statistics.median on exact Fractions, rounded to float32 once
    got = np.concatenate([result.tensors["w"], result.tensors["b"]])
    for k in range(6):
        expected = statistics.median(Fraction(float(np.float32(r[k]))) for r in rows)
        assert got[k] == np.float32(float(expected))
    assert result.rejected == () and result.weights == (1 / len(rows),) * len(rows)


@given(random_values, st.sampled_from([0.0, 0.1, 0.2, 0.34, 0.49]))
@settings(max_examples=60, deadline=None)
def test_trimmed_mean_drops_beta_n_from_each_end(rows: list[list[float]], beta: float) -> None:
    result = TrimmedMean(beta).aggregate(BASE, [(update(*r), 1) for r in rows])
    got = np.concatenate([result.tensors["w"], result.tensors["b"]])
    cut = math.floor(beta * len(rows))
    for k in range(6):
        kept = sorted(Fraction(float(np.float32(r[k]))) for r in rows)[cut : len(rows) - cut]
        assert got[k] == pytest.approx(float(sum(kept) / len(kept)), rel=1e-6, abs=1e-6)


def test_krum_scores_match_a_brute_force_count() -> None:
    # Prepare: 7 updates, f = 1: each score sums the n - f - 2 = 4 smallest squared distances
    rng = random.Random(3)
    rows = [[rng.uniform(-1, 1) for _ in range(6)] for _ in range(7)]
    flat = [np.asarray(r, np.float32) for r in rows]
    # Execute
    scores = Krum(f=1).scores(flat)
    # Assert
    for i in range(7):
        dist = sorted(
            sum((float(flat[i][k]) - float(flat[j][k])) ** 2 for k in range(6)) for j in range(7) if j != i
        )
        assert scores[i] == pytest.approx(sum(dist[:4]), rel=1e-12)


def test_fedavg_clip_bounds_every_update_difference() -> None:
    # Prepare: one honest update of norm 1 and one of norm 1000 in the same direction
    honest, huge = update(1, 0, 0, 0, 0, 0), update(1000, 0, 0, 0, 0, 0)
    # Execute
    result = FedAvg(clip=2.0).aggregate(BASE, [(honest, 1), (huge, 1)])
    # Assert: the huge one counts as norm 2, so the mean is (1 + 2) / 2
    assert float(result.tensors["w"][0]) == pytest.approx(1.5)
    assert (
        FedAvg(clip=2.0).aggregate(BASE, [(honest, 1)]).tensors["w"][0] == 1.0
    )  # within the bound: untouched


# --------------------------------------------------------------------------------------- robustness


@pytest.mark.parametrize(
    "rule",
    [Median(), TrimmedMean(0.2), Krum(f=1), Krum(f=1, multi=True), Krum(f=1, m=3, multi=True)],
    ids=lambda r: r.spec,
)
def test_robust_rules_stay_within_the_honest_range_despite_a_scaled_update(rule: object) -> None:
    honest = [constant(v) for v in (0.9, 1.0, 1.1, 0.95, 1.05)]
    attacker = constant(100.0)
    result = rule.aggregate(BASE, [(u, 10) for u in [*honest, attacker]])  # type: ignore[attr-defined]
    assert 0.9 <= float(result.tensors["w"][0]) <= 1.1
    if isinstance(rule, Krum):
        assert 5 in result.rejected


def test_multikrum_rejects_exactly_n_minus_m_and_weights_the_rest_equally() -> None:
    updates = [(constant(v), 1) for v in (1.0, 1.1, 0.9, 50.0, -50.0)]
    result = Krum(f=1, m=2, multi=True).aggregate(BASE, updates)
    assert len(result.rejected) == 3 and {3, 4} <= set(result.rejected)
    assert sorted(result.weights) == [0.0, 0.0, 0.0, 0.5, 0.5]


def test_krum_needs_two_f_plus_three_updates() -> None:
    with pytest.raises(InsufficientUpdatesError, match="needs at least 5 updates, got 4"):
        Krum(f=1).aggregate(BASE, [(constant(v), 1) for v in (1, 2, 3, 4)])
    assert Krum(f=2).min_updates() == 7


def test_sample_counts_do_not_move_the_robust_rules() -> None:
    # Inflating a claimed sample count buys nothing under a robust rule.
    updates = [constant(v) for v in (1.0, 2.0, 3.0, 4.0, 5.0)]
    fair = Median().aggregate(BASE, [(u, 10) for u in updates])
    inflated = Median().aggregate(BASE, [(u, 10**9 if i == 4 else 10) for i, u in enumerate(updates)])
    assert codec.encode(fair.tensors) == codec.encode(inflated.tensors)


# --------------------------------------------------------------------------------------- determinism


@pytest.mark.parametrize(
    "spec", ["fedavg", "fedavg:clip=3.0", "median", "trimmed_mean:beta=0.2", "krum:f=1", "multikrum:f=1,m=3"]
)
def test_the_spec_round_trips(spec: str) -> None:
    # Determinism to the bit, across machines, is pinned by the golden vectors (test_golden_vectors.py).
    rule = strategy_from_spec(spec)
    assert rule.spec == spec and strategy_from_spec(rule.spec) == rule


@pytest.mark.parametrize("spec", ["median", "trimmed_mean:beta=0.2"])
def test_coordinate_wise_rules_do_not_depend_on_order(spec: str) -> None:
    rng = np.random.default_rng(11)
    updates = [
        ({k: rng.normal(size=v.shape).astype(np.float32) for k, v in BASE.items()}, 1) for _ in range(5)
    ]
    results = {
        codec.encode(strategy_from_spec(spec).aggregate(BASE, list(order)).tensors)
        for order in itertools.islice(itertools.permutations(updates), 12)
    }
    assert len(results) == 1


def test_running_sum_scratch_buffer_gives_the_bits_of_the_plain_formula() -> None:
    rng = np.random.default_rng(5)
    arrays = [rng.normal(size=1000).astype(np.float32) for _ in range(20)]
    weights = [float(rng.integers(1, 1000)) for _ in arrays]
    running = RunningSum()
    plain = np.zeros(1000, np.float64)
    for a, w in zip(arrays, weights, strict=True):
        running.add({"x": a}, w)
        plain += w * a.astype(np.float64)
    assert running.accumulators["x"].tobytes() == plain.tobytes()


# --------------------------------------------------------------------------------------- fixed-order sums


def test_fixed_sum_is_exact_where_floats_allow_and_does_not_depend_on_numpy_blocking() -> None:
    values = np.array([1e16, 1.0, -1e16, 1.0] * 700, np.float64)
    assert fixed_sum(values) == 1400.0  # a naive left-to-right float sum loses the 1.0s
    x = np.random.default_rng(1).normal(size=5000)
    assert fixed_sum(x) == pytest.approx(math.fsum(x.tolist()), rel=1e-12)
    assert sum_of_squares(x) == pytest.approx(math.fsum((x * x).tolist()), rel=1e-12)
    assert squared_distance(x, np.zeros_like(x)) == sum_of_squares(x)
