"""The participant's data, model and training, and a short federated run that must actually learn."""

from __future__ import annotations

import functools
import itertools
import sys

import numpy as np
import pytest

from fedledger.exceptions import ConfigurationError
from fedledger.rules.strategies import FedAvg, FedSGD
from fl_node.data import DatasetSplit, load_dataset, partition, partition_indices
from fl_node.model import build_model, initial_model, load_tensors, model_config_for, model_to_tensors
from fl_node.train import Metric, TrainConfig, centralised_baseline, compute_gradient, evaluate, train_local


@functools.cache
def bikes() -> DatasetSplit:
    return load_dataset("bikes")


@functools.cache
def digits() -> DatasetSplit:
    return load_dataset("digits")


def test_bikes_loads_every_row_as_finite_float32_features() -> None:
    # Execute
    split = bikes()

    # Assert: 17,379 hours, 20% held out, 60 features
    assert split.task == "regression"
    assert split.x_train.shape == (13_903, 60) and split.x_test.shape == (3_476, 60)
    assert split.y_train.shape == (13_903,) and split.y_test.shape == (3_476,)
    assert split.group_train.shape == (13_903,)
    for array in (split.x_train, split.y_train, split.x_test, split.y_test):
        assert array.dtype == np.float32
        assert np.isfinite(array).all()
    assert set(np.unique(split.group_train)) == set(range(1, 13))
    assert split.y_train.min() >= np.log1p(1) - 1e-6 and split.y_train.max() <= np.log1p(977) + 1e-5


def test_bikes_repairs_every_blank_cell_and_counts_them() -> None:
    repairs = bikes().repairs
    assert repairs is not None
    assert repairs.weekday_from_date == 875
    assert repairs.weathersit_filled == 1_258
    assert repairs.weathersit_filled_from_blank_neighbour == 132


def test_bikes_standardises_weather_with_training_statistics_only() -> None:
    # Prepare: temp, atemp, hum, windspeed are the last four columns; the rest are 0/1 indicators or sin/cos
    split = bikes()
    weather = split.x_train[:, -4:].astype(np.float64)

    # Assert
    np.testing.assert_allclose(weather.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(weather.std(axis=0), 1.0, atol=1e-5)
    assert not np.allclose(split.x_test[:, -4:].mean(axis=0), 0.0, atol=1e-5)
    assert np.isin(split.x_train[:, :24], (0.0, 1.0)).all()


def test_split_is_deterministic_for_a_seed_and_changes_with_it() -> None:
    # Execute
    again, other = load_dataset("bikes", seed=0), load_dataset("bikes", seed=1)

    # Assert
    np.testing.assert_array_equal(again.x_test, bikes().x_test)
    assert not np.array_equal(other.y_test, bikes().y_test)


def test_digits_are_scaled_pixels_with_labels_as_groups() -> None:
    split = digits()
    assert split.task == "classification"
    assert split.x_train.shape == (1_438, 64) and split.x_test.shape == (359, 64)
    assert split.x_train.min() == 0.0 and split.x_train.max() == 1.0
    np.testing.assert_array_equal(split.group_train, split.y_train.astype(np.int64))


def test_digits_without_scikit_learn_names_the_extra_that_brings_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: a participant's install ([node]) has no scikit-learn
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)

    # Execute / Assert: one clear error, not an ImportError traceback
    with pytest.raises(
        ConfigurationError, match=r"scikit-learn, which is not installed: pip install 'fedledger\[demo\]'"
    ):
        load_dataset("digits")


@pytest.mark.parametrize("iid", [False, True])
@pytest.mark.parametrize(("name", "n"), [("bikes", 4), ("bikes", 7), ("digits", 10), ("digits", 1)])
def test_partitions_are_disjoint_and_cover_the_training_set(name: str, n: int, iid: bool) -> None:
    # Prepare
    split = bikes() if name == "bikes" else digits()

    # Execute
    blocks = partition_indices(split, n, iid=iid)
    parts = [partition(split, n, i, iid=iid) for i in range(n)]

    # Assert
    joined = np.concatenate(blocks)
    assert len(joined) == len(split.x_train) and len(np.unique(joined)) == len(joined)
    assert max(map(len, blocks)) - min(map(len, blocks)) <= 1
    for rows, (x, y) in zip(blocks, parts, strict=True):
        np.testing.assert_array_equal(x, split.x_train[rows])
        np.testing.assert_array_equal(y, split.y_train[rows])


def test_non_iid_bike_districts_see_different_parts_of_the_year() -> None:
    # Execute
    months = [np.unique(bikes().group_train[rows]) for rows in partition_indices(bikes(), 4)]

    # Assert: each holds a contiguous run of months, in calendar order, none holds the whole year
    for held in months:
        np.testing.assert_array_equal(held, np.arange(held[0], held[-1] + 1))
        assert len(held) <= 4
    assert [m[0] for m in months] == sorted(m[0] for m in months)
    assert months[0][0] == 1 and months[-1][-1] == 12


def test_iid_partition_gives_everyone_every_month() -> None:
    blocks = partition_indices(bikes(), 4, iid=True, seed=3)
    assert all(len(np.unique(bikes().group_train[rows])) == 12 for rows in blocks)


def test_partition_is_deterministic() -> None:
    x1, _ = partition(bikes(), 4, 2, iid=True, seed=5)
    x2, _ = partition(bikes(), 4, 2, iid=True, seed=5)
    np.testing.assert_array_equal(x1, x2)


@pytest.mark.parametrize(
    ("n", "index", "message"),
    [(0, 0, "num_participants"), (-2, 0, "num_participants"), (4, 4, "index"), (4, -1, "index"),
     (10_000_000, 0, "training rows")],
)  # fmt: skip
def test_partition_refuses_impossible_requests(n: int, index: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        partition(digits(), n, index)


def test_build_model_is_seeded_and_tensors_round_trip_through_a_module() -> None:
    # Prepare
    cfg = model_config_for(bikes())

    # Execute
    a, b, c = (model_to_tensors(build_model(cfg, seed)) for seed in (0, 0, 1))
    module = build_model(cfg, 7)
    load_tensors(module, a)

    # Assert
    assert (cfg.in_features, cfg.hidden, cfg.out_features) == (60, (64, 64), 1)
    assert all(np.array_equal(a[k], b[k]) for k in a) and not all(np.array_equal(a[k], c[k]) for k in a)
    assert all(np.array_equal(model_to_tensors(module)[k], a[k]) for k in a)
    assert all(v.dtype == np.float32 for v in a.values())


def test_model_to_tensors_returns_copies() -> None:
    module = build_model(model_config_for(digits()), 0)
    tensors = model_to_tensors(module)
    tensors["layers.0.bias"][:] = 123.0
    assert not np.array_equal(model_to_tensors(module)["layers.0.bias"], tensors["layers.0.bias"])


def test_load_tensors_refuses_wrong_names_or_shapes() -> None:
    # Prepare
    module = build_model(model_config_for(digits()), 0)
    tensors = model_to_tensors(module)
    renamed = {("x" + k if k == "layers.0.bias" else k): v for k, v in tensors.items()}
    reshaped = tensors | {"layers.1.weight": tensors["layers.1.weight"].T}  # (32, 64) -> (64, 32)

    # Execute / Assert
    with pytest.raises(ValueError, match=r"missing .*layers.0.bias.*unexpected .*xlayers.0.bias"):
        load_tensors(module, renamed)
    with pytest.raises(ValueError, match="shape"):
        load_tensors(module, reshaped)


def test_train_local_is_deterministic_and_leaves_base_unchanged() -> None:
    # Prepare
    split, cfg = digits(), TrainConfig(epochs=1, seed=4)
    base = initial_model(split)
    snapshot = {k: v.copy() for k, v in base.items()}
    x, y = partition(split, 3, 1)

    # Execute
    first = train_local(base, model_config_for(split), x, y, split.task, cfg)
    second = train_local(base, model_config_for(split), x, y, split.task, cfg)

    # Assert
    assert all(np.array_equal(first[k], second[k]) for k in first)
    assert all(np.array_equal(base[k], snapshot[k]) for k in base)
    assert not all(np.array_equal(first[k], base[k]) for k in base)


def test_weighted_mean_of_participant_gradients_is_the_full_data_gradient() -> None:
    # Prepare: FedSGD's premise
    split = bikes()
    cfg, base = model_config_for(split), initial_model(split)
    parts = [partition(split, 3, i) for i in range(3)]

    # Execute
    full = compute_gradient(base, cfg, split.x_train, split.y_train, split.task)
    step = (
        FedSGD(lr=1.0)
        .aggregate(base, [(compute_gradient(base, cfg, x, y, split.task), len(x)) for x, y in parts])
        .tensors
    )

    # Assert: base - 1.0 * mean gradient == base - full gradient
    for name in base:
        np.testing.assert_allclose(step[name], base[name] - full[name], rtol=1e-4, atol=1e-6)


def test_evaluate_reports_rmse_in_rentals_and_accuracy() -> None:
    # Execute
    rmse, accuracy = evaluate(initial_model(bikes()), bikes()), evaluate(initial_model(digits()), digits())

    # Assert: an untrained model predicting about the mean of log1p(cnt) is off by about 200 rentals
    assert rmse.name == "rmse" and not rmse.higher_is_better and 100 < rmse.value < 400
    assert accuracy.name == "accuracy" and accuracy.higher_is_better and 0.0 <= accuracy.value <= 0.3
    assert Metric("rmse", 50.0, False).better_than(rmse)


def test_centralised_baseline_on_digits_learns() -> None:
    assert centralised_baseline(digits(), epochs=10).value > 0.9


def test_fedavg_on_non_iid_bike_districts_improves_every_round() -> None:
    # Prepare: 4 month-block participants, 3 rounds, default training settings
    split = bikes()
    cfg = model_config_for(split)
    parts = [partition(split, 4, i) for i in range(4)]
    model = initial_model(split)
    scores = [evaluate(model, split).value]

    # Execute
    for rnd in range(3):
        updates = [
            (train_local(model, cfg, x, y, split.task, TrainConfig(seed=10 * rnd + i)), len(x))
            for i, (x, y) in enumerate(parts)
        ]
        model = FedAvg().aggregate(model, updates).tensors
        scores.append(evaluate(model, split).value)

    # Assert: RMSE (rentals) falls every round, and by the third round is within reach of the centralised ~50
    assert all(later < earlier for earlier, later in itertools.pairwise(scores)), scores
    assert scores[-1] < 90, scores
