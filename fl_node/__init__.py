"""The participant side of fedledger: data partitions, the model, local training and evaluation.

Imports ``fedledger`` (codec types) and torch; never ``aggregator``.
"""

from fl_node.data import DatasetSplit, load_dataset, partition
from fl_node.model import (
    MLP,
    ModelConfig,
    build_model,
    initial_model,
    load_tensors,
    model_config_for,
    model_to_tensors,
)
from fl_node.train import Metric, TrainConfig, centralised_baseline, compute_gradient, evaluate, train_local

__all__ = [
    "MLP",
    "DatasetSplit",
    "Metric",
    "ModelConfig",
    "TrainConfig",
    "build_model",
    "centralised_baseline",
    "compute_gradient",
    "evaluate",
    "initial_model",
    "load_dataset",
    "load_tensors",
    "model_config_for",
    "model_to_tensors",
    "partition",
    "train_local",
]
