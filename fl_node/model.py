"""The participant's model: a small MLP (nanoGPT style: a dataclass config, one module, shape comments).

Weights leave torch here and only here: ``model_to_tensors`` turns a module into the ``Tensors`` dict that the
codec serialises (``fedledger.codec``), and ``load_tensors`` puts such a dict back, strictly.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from fedledger.codec import Tensors
from fedledger.exceptions import ConfigurationError
from fl_node.data import DatasetSplit

HIDDEN = {"bikes": (64, 64), "digits": (64, 32)}


@dataclass(frozen=True)
class ModelConfig:
    """Layer widths of the MLP: in_features -> hidden[0] -> ... -> out_features."""

    in_features: int
    hidden: tuple[int, ...]
    out_features: int


def model_config_for(split: DatasetSplit) -> ModelConfig:
    """The architecture for ``split``: bikes 60-64-64-1 (regression), digits 64-64-32-10 (classification)."""
    hidden = HIDDEN.get(split.name, (64, 64))
    return ModelConfig(in_features=split.in_features, hidden=hidden, out_features=split.num_classes)


class MLP(nn.Module):
    """Fully connected ReLU network; parameters are named ``layers.{i}.weight`` / ``layers.{i}.bias``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        widths = (cfg.in_features, *cfg.hidden, cfg.out_features)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, in_features)
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))  # (batch, hidden[i])
        out: torch.Tensor = self.layers[-1](x)  # (batch, out_features)
        return out


def build_model(cfg: ModelConfig, seed: int) -> MLP:
    """A freshly initialised MLP: the same (cfg, seed) gives the same weights; torch's global RNG is kept."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLP(cfg)


def model_to_tensors(module: nn.Module) -> Tensors:
    """The module's state_dict as detached float32 numpy copies (safe to keep after the module changes)."""
    return {name: _to_numpy(value) for name, value in module.state_dict().items()}


def _to_numpy(value: torch.Tensor) -> npt.NDArray[np.float32]:
    return np.array(value.detach().cpu().numpy(), dtype=np.float32, copy=True)


def load_tensors(module: nn.Module, tensors: Mapping[str, npt.NDArray[np.floating]]) -> None:
    """Copy ``tensors`` into ``module`` in place.

    Raises
    ------
    ValueError
        If the names differ from the module's state_dict (missing and unexpected ones are listed) or a shape
        differs.
    """
    state = module.state_dict()
    missing, unexpected = sorted(set(state) - set(tensors)), sorted(set(tensors) - set(state))
    if missing or unexpected:
        raise ConfigurationError(
            f"tensor names do not match the model: missing {missing}, unexpected {unexpected}"
        )
    for name, target in state.items():
        shape = tuple(np.shape(tensors[name]))
        if shape != tuple(target.shape):
            raise ConfigurationError(
                f"tensor {name!r} has shape {shape}, the model expects {tuple(target.shape)}"
            )
    with torch.no_grad():
        for name, target in state.items():
            target.copy_(torch.as_tensor(np.asarray(tensors[name], dtype=np.float32)))


def initial_model(split: DatasetSplit, seed: int = 0) -> Tensors:
    """The round-0 global model for ``split``: seeded initial weights as ``Tensors``.

    For regression the output bias starts at the training mean of the target (about 4.6 for log1p(cnt)), so
    the first rounds learn the shape of demand instead of spending their steps, or a FedSGD step blowing up,
    on the offset. (Feature scaling already uses training statistics, so this reveals nothing new.)
    """
    model = build_model(model_config_for(split), seed)
    if split.task == "regression":
        head = model.layers[-1]
        assert isinstance(head, nn.Linear)
        with torch.no_grad():
            head.bias.fill_(float(np.mean(split.y_train, dtype=np.float64)))
    return model_to_tensors(model)
