"""The training loop: seeded, with the per-layer probe at step 0 and every `probe.every` steps."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from annlab.data import Split
from annlab.model import MLP
from annlab.probes import Probe

Loss = Callable[[Tensor, Tensor], Tensor]

# The loss takes the logits (numerically stable); the output activation is only for display.
LOSSES: dict[str, Loss] = {
    "binary": F.binary_cross_entropy_with_logits,
    "multiclass": F.cross_entropy,
    "regression": F.mse_loss,
}

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
}


def score_name(task: str) -> str:
    """The task's quality metric: accuracy for classification, R^2 for regression."""
    return "r2" if task == "regression" else "acc"


def score(task: str, logits: Tensor, y: Tensor) -> float:
    if task == "binary":
        return float(((logits > 0).float() == y).float().mean())
    if task == "multiclass":
        return float((logits.argmax(1) == y).float().mean())
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - logits) ** 2).sum()) / total if total > 0 else float("nan")


class Sink(Protocol):
    """Where training results go (the tracking layer implements it)."""

    def layer_stats(self, step: int, values: Tensor) -> None: ...

    def epoch_metrics(self, epoch: int, step: int, metrics: dict[str, float]) -> None: ...


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    momentum: float = 0.0
    weight_decay: float = 0.0
    probe_every: int = 10
    probe_batch: int = 256
    seed: int = 0


@dataclass
class TrainResult:
    steps: int = 0
    epochs: int = 0
    diverged: bool = False
    reason: str = ""
    final: dict[str, float] = field(default_factory=dict)


def _optimizer(model: MLP, s: TrainSettings) -> torch.optim.Optimizer:
    kwargs: dict[str, float] = {"lr": s.lr, "weight_decay": s.weight_decay}
    if s.optimizer == "sgd":
        kwargs["momentum"] = s.momentum
    return OPTIMIZERS[s.optimizer](model.parameters(), **kwargs)


@torch.no_grad()
def evaluate(model: MLP, loss_fn: Loss, x: Tensor, y: Tensor) -> tuple[float, float]:
    logits = model(x)
    return float(loss_fn(logits, y)), score(model.task, logits, y)


def train(model: MLP, data: Split, s: TrainSettings, sink: Sink, device: torch.device) -> TrainResult:
    """Train `model` on `data`, sending probe stats and epoch metrics to `sink`.

    A non-finite training loss ends training early with `diverged` set; it is a result,
    not an error.
    """
    loss_fn = LOSSES[model.task]
    x_train, y_train = data.x_train.to(device), data.y_train.to(device)
    x_val, y_val = data.x_val.to(device), data.y_val.to(device)
    gen = torch.Generator().manual_seed(s.seed)
    probe_idx = torch.randperm(len(x_train), generator=gen)[: s.probe_batch].to(device)
    probe = Probe(model, x_train[probe_idx], y_train[probe_idx], loss_fn)
    opt = _optimizer(model, s)
    n = len(x_train)
    steps_per_epoch = math.ceil(n / s.batch_size)
    last_step = steps_per_epoch * s.epochs - 1
    result = TrainResult()
    name = score_name(model.task)
    for epoch in range(1, s.epochs + 1):
        order = torch.randperm(n, generator=gen).to(device)
        for start in range(0, n, s.batch_size):
            step = result.steps
            pending = probe.measure() if step % s.probe_every == 0 or step == last_step else None
            idx = order[start : start + s.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            if not math.isfinite(loss.item()):
                result.diverged, result.reason = True, f"training loss turned non-finite at step {step}"
                return result
            loss.backward()
            opt.step()
            if pending is not None:
                sink.layer_stats(step, probe.finish(pending))
            result.steps += 1
        model.eval()
        train_loss, train_score = evaluate(model, loss_fn, x_train, y_train)
        val_loss, val_score = evaluate(model, loss_fn, x_val, y_val)
        model.train()
        result.epochs = epoch
        result.final = {
            "train/loss": train_loss,
            f"train/{name}": train_score,
            "val/loss": val_loss,
            f"val/{name}": val_score,
        }
        sink.epoch_metrics(epoch, result.steps, result.final)
        if not all(map(math.isfinite, (train_loss, val_loss))):
            result.diverged, result.reason = True, f"loss turned non-finite in epoch {epoch}"
            return result
    return result
