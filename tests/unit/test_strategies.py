"""Aggregation rules: hand-computed examples and the streaming accumulator.

Bit-exact determinism across machines is pinned by committed digests (tests/unit/test_golden_vectors.py), not by
aggregating twice in one process, which cannot see a numpy, BLAS or CPU change.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from fedledger import codec
from fedledger.exceptions import ConfigurationError
from fedledger.rules.strategies import (
    DEFAULT_FEDSGD_LR,
    FedAvg,
    FedSGD,
    RunningSum,
    strategy_from_spec,
)

SHAPES = {"layers.0.weight": (3, 2), "layers.0.bias": (3,), "layers.1.weight": (1, 3)}


def model(**values: list[float]) -> codec.Tensors:
    return {name: np.asarray(value, dtype=np.float32) for name, value in values.items()}


BASE = {name: np.zeros(shape, np.float32) for name, shape in SHAPES.items()}


def test_fedavg_is_the_sample_weighted_mean() -> None:
    # Prepare: 1 sample says (1, 2), 3 samples say (4, 8): mean = (1*1 + 3*4)/4, (1*2 + 3*8)/4
    base = model(w=[0.0, 0.0], b=[0.0])
    updates = [(model(w=[1.0, 2.0], b=[10.0]), 1), (model(w=[4.0, 8.0], b=[-2.0]), 3)]

    # Execute
    result = FedAvg().aggregate(base, updates).tensors

    # Assert
    np.testing.assert_array_equal(result["w"], np.array([3.25, 6.5], np.float32))
    np.testing.assert_array_equal(result["b"], np.array([1.0], np.float32))
    assert all(value.dtype == np.float32 for value in result.values())


def test_fedsgd_takes_one_step_along_the_weighted_mean_gradient() -> None:
    # Prepare: mean gradient = (1*[1, 0] + 3*[0, 1]) / 4 = [0.25, 0.75]
    base = model(w=[1.0, 1.0])
    gradients = [(model(w=[1.0, 0.0]), 1), (model(w=[0.0, 1.0]), 3)]

    # Execute
    result = FedSGD(lr=0.5).aggregate(base, gradients).tensors

    # Assert: w - 0.5 * [0.25, 0.75]
    np.testing.assert_array_equal(result["w"], np.array([0.875, 0.625], np.float32))


def test_fedavg_sums_in_float64_and_casts_once() -> None:
    # Prepare: in float32, 1e8 + 1 - 1e8 loses the 1; a float64 accumulator keeps it
    base = model(w=[0.0])
    updates = [(model(w=[1e8]), 1), (model(w=[1.0]), 1), (model(w=[-1e8]), 1)]

    # Execute
    result = FedAvg().aggregate(base, updates).tensors

    # Assert
    np.testing.assert_allclose(result["w"], np.array([1.0 / 3.0], np.float32))


def test_running_sum_holds_one_float64_accumulator_per_tensor_and_no_updates() -> None:
    # Prepare
    running = RunningSum()
    refs: list[weakref.ref[np.ndarray]] = []

    # Execute: add updates created in a helper, keeping only weak references to them
    for k in range(5):
        update = {name: np.full(shape, float(k), np.float32) for name, shape in SHAPES.items()}
        refs.extend(weakref.ref(value) for value in update.values())
        running.add(update, k + 1)
        del update
    gc.collect()

    # Assert
    assert all(ref() is None for ref in refs), "RunningSum kept a reference to an update"
    assert sorted(running.accumulators) == sorted(SHAPES)
    assert all(acc.dtype == np.float64 and acc.shape == SHAPES[n] for n, acc in running.accumulators.items())
    assert running.count == 5
    assert running.total_weight == 15.0
    expected = sum(k * (k + 1) for k in range(5)) / 15.0
    np.testing.assert_allclose(running.result()["layers.0.bias"], np.full(3, expected))


def test_running_sum_rejects_an_update_with_another_shape() -> None:
    # Prepare
    running = RunningSum()
    running.add({"w": np.zeros((2, 2), np.float32)}, 1)

    # Execute / Assert
    with pytest.raises(ValueError, match="shape"):
        running.add({"w": np.zeros((2, 3), np.float32)}, 1)


def test_running_sum_rejects_an_update_with_other_names() -> None:
    # Prepare
    running = RunningSum()
    running.add({"w": np.zeros(2, np.float32)}, 1)

    # Execute / Assert
    with pytest.raises(ValueError, match="names"):
        running.add({"v": np.zeros(2, np.float32)}, 1)


@pytest.mark.parametrize("weight", [0, -1, float("nan"), float("inf")])
def test_running_sum_rejects_non_positive_or_non_finite_weights(weight: float) -> None:
    with pytest.raises(ValueError, match="weight"):
        RunningSum().add({"w": np.zeros(2, np.float32)}, weight)


def test_aggregating_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no updates"):
        FedAvg().aggregate(BASE, [])


def test_updates_that_do_not_match_the_base_model_are_refused() -> None:
    # Prepare
    base = model(w=[0.0, 0.0])
    updates = [(model(w=[1.0, 2.0, 3.0]), 1)]

    # Execute / Assert
    with pytest.raises(ValueError, match="base model"):
        FedAvg().aggregate(base, updates)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("fedavg", FedAvg()),
        ("fedsgd:lr=0.3", FedSGD(DEFAULT_FEDSGD_LR)),
        ("fedsgd:lr=0.5", FedSGD(0.5)),
        ("fedsgd:lr=0.01", FedSGD(0.01)),
    ],
)
def test_strategy_from_spec_builds_the_rule_of_a_canonical_spec(spec: str, expected: object) -> None:
    assert strategy_from_spec(spec) == expected


@pytest.mark.parametrize("strategy", [FedAvg(), FedSGD(), FedSGD(0.5), FedSGD(0.1), FedSGD(1e-3)])
def test_spec_round_trips(strategy: FedAvg | FedSGD) -> None:
    # Execute
    parsed = strategy_from_spec(strategy.spec)

    # Assert
    assert parsed == strategy
    assert parsed.spec == strategy.spec


@pytest.mark.parametrize("spec", ["FedSGD", "fedsgd", "fedsgd:lr=1e-2", "fedavg ", "", "fedprox"])
def test_strategy_from_spec_refuses_what_is_not_canonical(spec: str) -> None:
    # A task named "FedSGD" once made participants send weights while the aggregator took them as gradients.
    with pytest.raises(ConfigurationError):
        strategy_from_spec(spec)
