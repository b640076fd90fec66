"""The model and data of the example: fedledger's digits MLP (64-64-32-10) on IID slices of sklearn's digits."""

from __future__ import annotations

from functools import cache

import numpy as np

from fedledger.codec import Tensors
from fl_node.data import DatasetSplit, load_dataset, partition
from fl_node.model import initial_model, model_config_for
from fl_node.threads import configure_torch_threads
from fl_node.train import TrainConfig, evaluate, train_local


@cache
def digits() -> DatasetSplit:
    configure_torch_threads()
    return load_dataset("digits", seed=0)


def initial() -> Tensors:
    return initial_model(digits(), seed=0)


def train(
    weights: Tensors, partition_id: int, num_partitions: int, epochs: int, round_: int
) -> tuple[Tensors, int]:
    """Local training of one client: ``epochs`` of SGD on its IID slice; returns new weights and row count."""
    split = digits()
    x, y = partition(split, num_partitions, partition_id, iid=True, seed=0)
    cfg = TrainConfig(epochs=epochs, lr=0.1, batch_size=32, seed=1000 * round_ + partition_id)
    return train_local(weights, model_config_for(split), x, y, split.task, cfg), len(x)


def accuracy(weights: Tensors) -> float:
    return float(evaluate({k: np.asarray(v, np.float32) for k, v in weights.items()}, digits()).value)
