"""Losses, scores and optimisers: of one model, and of a stack of N (each member's own, [N])."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from annlab.config import OptimizerConfig
from annlab.net.model import MLP
from annlab.record import TASKS
from annlab.train.data import Split

Loss = Callable[[Tensor, Tensor], Tensor]

# The loss takes the logits (numerically stable); the output activation is only for display.
LOSSES: dict[str, Loss] = {
    "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
    "cross_entropy": F.cross_entropy,
    "mse": F.mse_loss,
}

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
}


def score(task: str, logits: Tensor, y: Tensor) -> float:
    """The task's quality (TASKS[task].score): accuracy for classification, R^2 for regression."""
    if task == "binary":
        return float(((logits > 0).float() == y).float().mean())
    if task == "multiclass":
        return float((logits.argmax(1) == y).float().mean())
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - logits) ** 2).sum()) / total if total > 0 else float("nan")


def optimizer(model: MLP, o: OptimizerConfig) -> torch.optim.Optimizer:
    kwargs: dict[str, float] = {"lr": o.lr, "weight_decay": o.weight_decay}
    if o.name == "sgd":
        kwargs["momentum"] = o.momentum
    return OPTIMIZERS[o.name](model.parameters(), **kwargs)


def member_losses(name: str, logits: Tensor, y: Tensor) -> Tensor:
    """Each member's mean loss [N] from the stacked logits [N, batch, out] and targets."""
    if name == "cross_entropy":
        per_example = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")
    else:
        per_example = LOSSES[name](logits, y, reduction="none")
    return per_example.flatten(1).mean(1)


def member_scores(task: str, logits: Tensor, y: Tensor) -> Tensor:
    """Each member's `score` [N] from the stacked logits [N, batch, out] and targets."""
    if task == "binary":
        return ((logits > 0).float() == y).float().flatten(1).mean(1)
    if task == "multiclass":
        return (logits.argmax(-1) == y).float().mean(1)
    total = ((y - y.mean(1, keepdim=True)) ** 2).flatten(1).sum(1)
    r2 = 1.0 - ((y - logits) ** 2).flatten(1).sum(1) / total
    return torch.where(total > 0, r2, torch.full_like(r2, float("nan")))


@torch.no_grad()
def evaluate(model: MLP, loss_fn: Loss, x: Tensor, y: Tensor) -> tuple[float, float]:
    logits = model(x)
    return float(loss_fn(logits, y)), score(model.task, logits, y)


def epoch_metrics(model: MLP, loss_fn: Loss, data: Split, device: torch.device) -> dict[str, float]:
    """train/ and val/ loss and score of the model as it is now."""
    name = TASKS[model.task].score
    model.eval()
    train_loss, train_score = evaluate(model, loss_fn, data.x_train.to(device), data.y_train.to(device))
    val_loss, val_score = evaluate(model, loss_fn, data.x_val.to(device), data.y_val.to(device))
    model.train()
    return {"train/loss": train_loss, f"train/{name}": train_score, "val/loss": val_loss, f"val/{name}": val_score}
