"""Local training (FedAvg), full-batch gradients (FedSGD), evaluation, and the centralised baseline.

Optimiser: SGD with momentum 0.9, lr 0.02, batch 64, 2 local epochs, a fresh optimiser every round (only
weights travel). Chosen on bikes with 4 month-block (non-IID) participants x 5 rounds, over seeds 0-3: RMSE
falls every round (about 98-116, 67-75, 55-63, 53-62, 51-58 rentals) and ends between 9% below and 28% above
the centralised model trained for the same 10 epochs (43-56). Adam (lr 1e-3 or 3e-3) ends in the same range
(50-69) but rose again in some round on 1-2 of the 4 seeds; ``optimizer="adam"`` keeps it available. Losses:
MSE on log1p(cnt) for regression, cross-entropy for classification.

The FedAvg paper (McMahan et al. 2017, arXiv 1602.05629) trains MNIST with plain SGD (``momentum=0``), batch
B=10 and E local epochs, the learning rate tuned per setting: ``MNIST_2NN_TRAIN`` holds that recipe.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from fedledger.codec import Tensors
from fl_node.data import DatasetSplit, Task
from fl_node.model import (
    ModelConfig,
    build_model,
    initial_model,
    load_tensors,
    model_config_for,
    model_to_tensors,
)

EVAL_BATCH = 8192


@dataclass(frozen=True)
class TrainConfig:
    """Local training settings of one participant for one round."""

    epochs: int = 2
    batch_size: int = 64
    lr: float = 0.02
    seed: int = 0
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = 0.9  # SGD only; 0 is the paper's plain SGD

    def make_optimiser(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """A fresh optimiser for one round of local training (no state is carried between rounds)."""
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum)
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.lr)
        raise ValueError(f"unknown optimizer {self.optimizer!r}; valid: 'adam', 'sgd'")


# The paper's MNIST ClientUpdate for the 2NN: plain SGD, B=10, E=1. lr chosen over 0.03-0.5 with 100 clients,
# C=0.1 (10 per round), seed 0, test accuracy after 10/20/40 rounds. IID: 0.05 90.3/92.5/94.8%, 0.1
# 92.2/94.4/96.2%, 0.2 93.7/95.6/97.0%, 0.3 94.0/95.8/97.1%, 0.5 92.8/95.2/96.6%. Non-IID (label shards): 0.1
# 69.7/85.9/91.0%, 0.2 71.7/88.0/92.6%, 0.3 72.4/86.9/92.2%, 0.5 36.2/46.9/62.5%. 0.2 is at or near the top in
# both and two steps from where non-IID breaks down. (The CNN's lr is not tuned yet.)
MNIST_2NN_TRAIN = TrainConfig(epochs=1, batch_size=10, lr=0.2, momentum=0.0)


@dataclass(frozen=True)
class Metric:
    """A test-set score: ``rmse`` (rentals per hour, lower is better) or ``accuracy`` (higher is better)."""

    name: str
    value: float
    higher_is_better: bool

    def better_than(self, other: Metric) -> bool:
        """True when this score beats ``other`` (same metric name required)."""
        if other.name != self.name:
            raise ValueError(f"cannot compare {self.name} with {other.name}")
        return self.value > other.value if self.higher_is_better else self.value < other.value


def _loss(out: torch.Tensor, y: torch.Tensor, task: Task) -> torch.Tensor:
    """Mean loss of a batch: MSE for regression (out (B, 1)), cross-entropy for classification (B, C)."""
    if task == "regression":
        return F.mse_loss(out.squeeze(-1), y)
    return F.cross_entropy(out, y.long())


def _as_torch(x: npt.NDArray[np.floating], y: npt.NDArray[np.floating]) -> tuple[torch.Tensor, torch.Tensor]:
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"need matching, non-empty x and y; got {len(x)} and {len(y)} rows")
    return torch.tensor(np.asarray(x, dtype=np.float32)), torch.tensor(np.asarray(y, dtype=np.float32))


def train_local(
    base: Tensors,
    split_cfg: ModelConfig,
    x: npt.NDArray[np.floating],
    y: npt.NDArray[np.floating],
    task: Task,
    cfg: TrainConfig,
) -> Tensors:
    """FedAvg's ClientUpdate (McMahan et al. 2017, arXiv 1602.05629): E epochs of minibatch SGD from ``base``.

    Parameters
    ----------
    base:
        The current global model (left unchanged).
    split_cfg:
        Architecture matching ``base``.
    x, y:
        This participant's training rows.
    task:
        ``"regression"`` or ``"classification"``.
    cfg:
        Epochs, batch size, optimiser and learning rate, and the seed that fixes the batch order.

    Returns
    -------
    Tensors
        The participant's new local weights (same names and shapes as ``base``).
    """
    xt, yt = _as_torch(x, y)
    model = build_model(split_cfg, cfg.seed)
    load_tensors(model, base)
    optimiser = cfg.make_optimiser(model.parameters())
    generator = torch.Generator().manual_seed(cfg.seed)
    model.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(xt), cfg.batch_size):
            batch = order[start : start + cfg.batch_size]
            optimiser.zero_grad(set_to_none=True)
            _loss(model(xt[batch]), yt[batch], task).backward()  # type: ignore[no-untyped-call]
            optimiser.step()
    return model_to_tensors(model)


def compute_gradient(
    base: Tensors,
    model_cfg: ModelConfig,
    x: npt.NDArray[np.floating],
    y: npt.NDArray[np.floating],
    task: Task,
) -> Tensors:
    """FedSGD client (McMahan et al. 2017, arXiv 1602.05629): the full-batch gradient of the loss at ``base``.

    Returns
    -------
    Tensors
        One gradient per parameter, under the parameter's name. Weighting these by the number of rows and
        averaging gives exactly the gradient over all participants' data.
    """
    xt, yt = _as_torch(x, y)
    model = build_model(model_cfg, 0)
    load_tensors(model, base)
    model.zero_grad(set_to_none=True)
    _loss(model(xt), yt, task).backward()  # type: ignore[no-untyped-call]
    grads: Tensors = {}
    for name, param in model.named_parameters():
        grad = param.grad if param.grad is not None else torch.zeros_like(param)
        grads[name] = np.array(grad.detach().numpy(), dtype=np.float32, copy=True)
    return grads


def predict(tensors: Tensors, model_cfg: ModelConfig, x: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """Model outputs for ``x``: (n,) for regression, (n, classes) logits for classification."""
    model = build_model(model_cfg, 0)
    load_tensors(model, tensors)
    model.eval()
    xt = torch.tensor(np.asarray(x, dtype=np.float32))
    with torch.no_grad():
        out = torch.cat([model(xt[i : i + EVAL_BATCH]) for i in range(0, len(xt), EVAL_BATCH)])
    result = out.numpy().astype(np.float32)
    return result[:, 0] if model_cfg.out_features == 1 else result


def evaluate(tensors: Tensors, split: DatasetSplit, model_cfg: ModelConfig | None = None) -> Metric:
    """Score ``tensors`` on the held-out test set: RMSE in rentals, from expm1 of predictions; or accuracy.

    ``model_cfg`` defaults to ``model_config_for(split)``; pass the CNN's config to score a CNN.
    """
    out = predict(tensors, model_cfg or model_config_for(split), split.x_test)
    if split.task == "regression":
        predicted = np.expm1(out.astype(np.float64))
        actual = np.expm1(split.y_test.astype(np.float64))
        return Metric("rmse", float(np.sqrt(np.mean((predicted - actual) ** 2))), higher_is_better=False)
    accuracy = float(np.mean(out.argmax(axis=1) == split.y_test.astype(np.int64)))
    return Metric("accuracy", accuracy, higher_is_better=True)


def centralised_baseline(
    split: DatasetSplit,
    cfg: TrainConfig | None = None,
    epochs: int = 10,
    model_cfg: ModelConfig | None = None,
) -> Metric:
    """Train one model on the whole training set and score it on the same test set as the federated run.

    ``epochs`` is the total budget; the default 10 matches a federated run of 5 rounds x 2 local epochs, where
    each training row is also visited 10 times. ``cfg`` gives batch size, lr and seed (its ``epochs`` is
    ignored). The initial weights are ``initial_model(split, cfg.seed, model_cfg)``, as for the federated run.
    """
    cfg = replace(cfg or TrainConfig(), epochs=epochs)
    model_cfg = model_cfg or model_config_for(split)
    start = initial_model(split, cfg.seed, model_cfg)
    trained = train_local(start, model_cfg, split.x_train, split.y_train, split.task, cfg)
    return evaluate(trained, split, model_cfg)
