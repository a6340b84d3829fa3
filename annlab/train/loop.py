"""The training loop: seeded, with the per-layer probe at step 0 and every `probe.every` steps."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from annlab.config import OptimizerConfig, RunConfig
from annlab.net.model import MLP
from annlab.record import TASKS
from annlab.train import interrupt
from annlab.train.data import Split
from annlab.train.distributions import Row
from annlab.train.probes import PendingStats, Probe

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


class Sink(Protocol):
    """Where training results go (the tracking layer implements it)."""

    def layer_stats(self, step: int, values: Tensor) -> None: ...

    def layer_distributions(self, rows: list[Row]) -> None: ...

    def epoch_metrics(self, epoch: int, step: int, metrics: dict[str, float]) -> None: ...


@dataclass
class TrainResult:
    steps: int = 0
    epochs: int = 0
    diverged: bool = False
    seconds: float = 0.0  # wall time inside train(): the training loop, probes and epoch metrics
    reason: str = ""
    final: dict[str, float] = field(default_factory=dict)


def _optimizer(model: MLP, o: OptimizerConfig) -> torch.optim.Optimizer:
    kwargs: dict[str, float] = {"lr": o.lr, "weight_decay": o.weight_decay}
    if o.name == "sgd":
        kwargs["momentum"] = o.momentum
    return OPTIMIZERS[o.name](model.parameters(), **kwargs)


@torch.no_grad()
def evaluate(model: MLP, loss_fn: Loss, x: Tensor, y: Tensor) -> tuple[float, float]:
    logits = model(x)
    return float(loss_fn(logits, y)), score(model.task, logits, y)


def probe_indices(n: int, batch_size: int, generator: torch.Generator) -> Tensor:
    """The training examples of the fixed probe batch: the first draw of the run's generator
    (a fresh Generator seeded with the run's seed gives the same batch: calibration uses it)."""
    return torch.randperm(n, generator=generator)[:batch_size]


def last_step(n_train: int, cfg: RunConfig) -> int:
    """The index of the run's last optimiser step (every epoch ends with a shorter batch if need be)."""
    return math.ceil(n_train / cfg.trainer.batch_size) * cfg.trainer.epochs - 1


def probe_steps(n_train: int, cfg: RunConfig) -> list[int]:
    """The optimiser steps a run probes: step 0, every `probe.every`-th and the last."""
    last = last_step(n_train, cfg)
    return [s for s in range(last + 1) if s % cfg.probe.every == 0 or s == last]


def thinned(steps: list[int], points: int) -> set[int]:
    """At most `points` of `steps`, evenly spaced, the first and the last always among them
    (one point: the first; none: none)."""
    if len(steps) <= points:
        return set(steps)
    if points < 2:
        return set(steps[:points])
    return {steps[round(i * (len(steps) - 1) / (points - 1))] for i in range(points)}


def _epoch_metrics(model: MLP, loss_fn: Loss, data: Split, device: torch.device) -> dict[str, float]:
    """train/ and val/ loss and score of the model as it is now."""
    name = TASKS[model.task].score
    model.eval()
    train_loss, train_score = evaluate(model, loss_fn, data.x_train.to(device), data.y_train.to(device))
    val_loss, val_score = evaluate(model, loss_fn, data.x_val.to(device), data.y_val.to(device))
    model.train()
    return {"train/loss": train_loss, f"train/{name}": train_score, "val/loss": val_loss, f"val/{name}": val_score}


def train(model: MLP, data: Split, cfg: RunConfig, sink: Sink, device: torch.device) -> TrainResult:
    """Train `model` on `data` as `cfg` says (see `_train`); the result says how long that took.
    The optimiser is made before the clock starts: a process's first one imports torch._dynamo
    (~2 s), which is not training."""
    opt = _optimizer(model, cfg.optimizer)
    tic = time.perf_counter()
    result = _train(model, opt, data, cfg, sink, device)
    result.seconds = time.perf_counter() - tic
    return result


def _send(sink: Sink, probe: Probe, step: int, pending: PendingStats) -> None:
    """The probe's stats of `step`, now that the update they await is made, and its distributions."""
    sink.layer_stats(step, probe.finish(pending))
    if pending.distributions is not None:
        sink.layer_distributions(pending.distributions)


def _train(
    model: MLP, opt: torch.optim.Optimizer, data: Split, cfg: RunConfig, sink: Sink, device: torch.device
) -> TrainResult:
    """Train `model` with `opt` on `data` as `cfg` says, sending probe stats and epoch metrics to
    `sink`. Epoch 0 is the state before the first update. A non-finite training loss ends
    training early with `diverged` set; it is a result, not an error."""
    t, p = cfg.trainer, cfg.probe
    loss_fn = LOSSES[TASKS[model.task].loss]
    x_train, y_train = data.x_train.to(device), data.y_train.to(device)
    gen = torch.Generator().manual_seed(cfg.seed)
    # Drawn in both probe modes, so that the training order (the generator's next draws) is the
    # same whichever batch the stats come from.
    probe_idx = probe_indices(len(x_train), p.batch_size or t.batch_size, gen).to(device)
    probe = Probe(model, x_train[probe_idx], y_train[probe_idx], loss_fn)
    on_train_batch = p.batch == "train"
    n, last = len(x_train), last_step(len(x_train), cfg)
    recorded = thinned(probe_steps(n, cfg), p.distributions)  # steps that record distributions
    result = TrainResult()
    sink.epoch_metrics(0, 0, _epoch_metrics(model, loss_fn, data, device))
    for epoch in range(1, t.epochs + 1):
        order = torch.randperm(n, generator=gen).to(device)
        for start in range(0, n, t.batch_size):
            interrupt.check()
            step = result.steps
            probing = step % p.every == 0 or step == last
            at = step if step in recorded else None
            pending = probe.measure(at) if probing and not on_train_batch else None
            idx = order[start : start + t.batch_size]
            opt.zero_grad(set_to_none=True)
            keep: list[tuple[Tensor, Tensor, Tensor]] | None = [] if probing and on_train_batch else None
            loss = loss_fn(model(x_train[idx], keep=keep), y_train[idx])
            if not math.isfinite(loss.item()):
                result.diverged, result.reason = True, f"training loss turned non-finite at step {step}"
                return result
            if keep is not None:
                # A shorter last batch's gradient norms (~1/sqrt(rows)) are rescaled to a full batch's.
                pending = probe.measure_step(keep, loss, math.sqrt(len(idx) / t.batch_size), at)
            else:
                loss.backward()
            opt.step()
            if pending is not None:
                _send(sink, probe, step, pending)
            result.steps += 1
        result.epochs, result.final = epoch, _epoch_metrics(model, loss_fn, data, device)
        sink.epoch_metrics(epoch, result.steps, result.final)
        if not all(math.isfinite(result.final[k]) for k in ("train/loss", "val/loss")):
            result.diverged, result.reason = True, f"loss turned non-finite in epoch {epoch}"
            return result
    return result
