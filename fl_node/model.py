"""The participant's models (nanoGPT style: a dataclass config, small modules, shape comments).

Two kinds, both from or after McMahan et al. 2017 (arXiv 1602.05629):

* ``"mlp"``: fully connected ReLU layers. bikes 60-64-64-1, digits 64-64-32-10, and the paper's MNIST "2NN"
  784-200-200-10 (199,210 parameters), the default for MNIST.
* ``"cnn"``: the paper's MNIST CNN: two 5x5 convolutions of 32 and 64 channels, each followed by 2x2 max
  pooling, a 512-unit fully connected ReLU layer and a softmax output (1,663,370 parameters). The paper does not
  give the padding; "same" padding (2) is the one that yields its parameter count (28 -> 14 -> 7, 7*7*64 = 3136
  inputs to the 512 layer).

Weights leave torch here and only here: ``model_to_tensors`` turns a module into the ``Tensors`` dict that the
codec serialises (``fedledger.codec``), and ``load_tensors`` puts such a dict back, strictly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from fedledger.codec import Tensors
from fedledger.exceptions import ConfigurationError
from fl_node.data import DatasetSplit

ModelKind = Literal["mlp", "cnn"]
HIDDEN = {"bikes": (64, 64), "digits": (64, 32), "mnist": (200, 200)}
CNN_CHANNELS, CNN_HIDDEN, CNN_KERNEL = (32, 64), (512,), 5


@dataclass(frozen=True)
class ModelConfig:
    """An architecture. ``"mlp"``: in_features -> hidden[0] -> ... -> out_features.

    ``"cnn"``: the in_features pixels as one square single-channel image, a 5x5 "same" convolution and 2x2 max
    pool per entry of ``channels``, then the MLP head hidden -> out_features over the flattened feature map.
    """

    in_features: int
    hidden: tuple[int, ...]
    out_features: int
    kind: ModelKind = "mlp"
    channels: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("mlp", "cnn"):
            raise ConfigurationError(f"unknown model kind {self.kind!r}; valid: 'cnn', 'mlp'")
        if self.kind == "cnn":
            side = math.isqrt(self.in_features)
            if not self.channels or side * side != self.in_features or side % 2 ** len(self.channels):
                raise ConfigurationError(
                    f"a CNN needs conv channels and a square image whose side halves {len(self.channels)} "
                    f"times; got {self.in_features} input features"
                )

    @property
    def image_side(self) -> int:
        """Side of the square input image (CNN only)."""
        return math.isqrt(self.in_features)


def model_config_for(split: DatasetSplit, kind: ModelKind = "mlp") -> ModelConfig:
    """The architecture for ``split``.

    ``"mlp"`` (default): bikes 60-64-64-1 (regression), digits 64-64-32-10, MNIST 784-200-200-10 (the paper's
    2NN). ``"cnn"``: the paper's MNIST CNN (conv 32, conv 64, 512, classes) for square-image datasets.
    """
    if kind == "cnn":
        return ModelConfig(split.in_features, CNN_HIDDEN, split.num_classes, "cnn", CNN_CHANNELS)
    hidden = HIDDEN.get(split.name, (64, 64))
    return ModelConfig(
        in_features=split.in_features, hidden=hidden, out_features=split.num_classes, kind=kind
    )


def _linear_stack(widths: tuple[int, ...]) -> nn.ModuleList:
    return nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))


def _relu_head(layers: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    """ReLU after every layer but the last: (batch, widths[0]) -> (batch, widths[-1])."""
    for layer in layers[:-1]:
        x = torch.relu(layer(x))  # (batch, hidden[i])
    out: torch.Tensor = layers[-1](x)  # (batch, out_features)
    return out


class MLP(nn.Module):
    """Fully connected ReLU network; parameters are named ``layers.{i}.weight`` / ``layers.{i}.bias``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.layers = _linear_stack((cfg.in_features, *cfg.hidden, cfg.out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _relu_head(self.layers, x)  # (batch, in_features) -> (batch, out_features)


class CNN(nn.Module):
    """Conv-ReLU-pool blocks, then a ReLU MLP head; parameters ``convs.{i}.*`` and ``layers.{i}.*``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        pad = CNN_KERNEL // 2  # "same": only the pools shrink the image
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, CNN_KERNEL, padding=pad) for a, b in itertools.pairwise((1, *cfg.channels))
        )
        flat = cfg.channels[-1] * (cfg.image_side // 2 ** len(cfg.channels)) ** 2  # 64 * 7 * 7 = 3136
        self.layers = _linear_stack((flat, *cfg.hidden, cfg.out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = self.cfg.image_side
        x = x.reshape(-1, 1, side, side)  # (batch, 1, 28, 28)
        for conv in self.convs:
            x = F.max_pool2d(torch.relu(conv(x)), 2)  # (batch, channels[i], side / 2^(i+1), ...)
        return _relu_head(self.layers, x.flatten(1))  # (batch, 3136) -> (batch, out_features)


def build_model(cfg: ModelConfig, seed: int) -> MLP | CNN:
    """A freshly initialised model: the same (cfg, seed) gives the same weights; torch's global RNG is kept."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CNN(cfg) if cfg.kind == "cnn" else MLP(cfg)


def parameter_count(cfg: ModelConfig) -> int:
    """Number of trainable scalars of ``cfg`` (2NN: 199,210; the paper's CNN: 1,663,370)."""
    return sum(p.numel() for p in build_model(cfg, 0).parameters())


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


def initial_model(split: DatasetSplit, seed: int = 0, model_cfg: ModelConfig | None = None) -> Tensors:
    """The round-0 global model for ``split``: seeded initial weights as ``Tensors``.

    ``model_cfg`` defaults to ``model_config_for(split)`` (pass ``model_config_for(split, "cnn")`` for the CNN).

    For regression the output bias starts at the training mean of the target (about 4.6 for log1p(cnt)), so
    the first rounds learn the shape of demand instead of spending their steps, or a FedSGD step blowing up,
    on the offset. (Feature scaling already uses training statistics, so this reveals nothing new.)
    """
    model = build_model(model_cfg or model_config_for(split), seed)
    if split.task == "regression":
        head = model.layers[-1]
        assert isinstance(head, nn.Linear)
        with torch.no_grad():
            head.bias.fill_(float(np.mean(split.y_train, dtype=np.float64)))
    return model_to_tensors(model)
