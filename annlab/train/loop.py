"""The training loop of a group of jobs (one job: a group of one), with each member's per-layer probe."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import torch
from torch import Tensor

from annlab.config import RunConfig
from annlab.net.model import MLP
from annlab.net.stacked import StackedMLP
from annlab.record import TASKS
from annlab.train import interrupt
from annlab.train.data import Split
from annlab.train.distributions import Row
from annlab.train.metrics import LOSSES, epoch_metrics, member_losses, member_scores, optimizer
from annlab.train.probes import PendingStats, Probe
from annlab.train.schedule import last_step, probe_indices, probe_steps, thinned
from annlab.train.stacked_optim import StackedOptimizer
from annlab.train.stacked_probe import StackedProbe

T = TypeVar("T")


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
    # A member of a group that failed alone (its sink or probe raised): the others went on.
    error: Exception | None = None


@dataclass
class Member:
    """One job of a group: its model (built and drawn as a job of its own draws it), its data
    split, its config and where its results go."""

    model: MLP
    data: Split
    cfg: RunConfig
    sink: Sink


def train(model: MLP, data: Split, cfg: RunConfig, sink: Sink, device: torch.device) -> TrainResult:
    """Train one model: a group of one (see `train_group`)."""
    return train_group([Member(model, data, cfg, sink)], device)[0]


def train_group(members: Sequence[Member], device: torch.device) -> list[TrainResult]:
    """Train the members together (see `_Group`); each result says how long the group's loop
    took, divided by its size. The optimiser is made before the clock starts: a process's first
    one imports torch._dynamo (~2 s), which is not training; so are a traced stack's compiled
    passes loaded (fused.load)."""
    group = _Group(members, device)
    tic = time.perf_counter()
    results = group.train()
    seconds = (time.perf_counter() - tic) / len(members)
    for result in results:
        result.seconds = seconds
    return results


def _send(sink: Sink, step: int, stats: Tensor, rows: list[Row] | None) -> None:
    """A member's stats of `step`, now that the update they await is made, and its distributions."""
    sink.layer_stats(step, stats)
    if rows is not None:
        sink.layer_distributions(rows)


def _finish_and_send(sink: Sink, probe: Probe, step: int, pending: PendingStats) -> None:
    """The probe's pending stats of `step`, finished now that the update is made, sent."""
    _send(sink, step, probe.finish(pending), pending.distributions)


class _Group:
    """Members that share every shape (activation, layer widths, dataset, batch size, epochs,
    optimiser kind, probe settings) trained as one. Each keeps its own init, seed (its data
    split, probe batch and batch order are drawn from its own generator, as alone), learning
    rate, momentum and decay, probe and sink. A group of one is trained by its own model
    (F.linear) and torch's optimiser: a job alone keeps its numbers bit for bit. A larger group
    steps through one StackedMLP (one batched product a layer) and one StackedOptimizer; its
    fixed-batch probes run on each member's own model, whose weights are views of its slice,
    its epoch metrics come from one batched forward pass, and every-step tracing
    (probe=train) from one StackedProbe over the stack. A member whose loss turns non-finite
    is recorded diverged and stops, one whose sink or probe raises fails alone; the others go
    on."""

    def __init__(self, members: Sequence[Member], device: torch.device):
        self.members, self.device = list(members), device
        first = self.members[0].cfg
        self.t, self.p = first.trainer, first.probe
        self.task = self.members[0].model.task
        self.loss_name = TASKS[self.task].loss
        self.loss_fn = LOSSES[self.loss_name]
        self.single = len(self.members) == 1
        sizes = {len(m.data.x_train) for m in self.members}
        if len(sizes) != 1:
            raise ValueError(f"a group's members need training splits of one size, not {sorted(sizes)}")
        if self.single:
            member = self.members[0]
            self.opt: torch.optim.Optimizer | StackedOptimizer = optimizer(member.model, member.cfg.optimizer)
        else:
            self.stacked = StackedMLP([m.model for m in self.members])
            params = [*self.stacked.weights, *self.stacked.biases]
            self.opt = StackedOptimizer(params, [m.cfg.optimizer for m in self.members])
            if self.p.batch == "train" and device.type == "cpu":
                from annlab.train import fused  # its compiled passes load before the clock, as imports

                fused.load()
        self.results = [TrainResult() for _ in self.members]
        self.alive = list(range(len(self.members)))

    def _call(self, i: int, fn: Callable[..., T], *args: object) -> T | None:
        """A member's own work (its sink, its probe): alone, an error ends the job; in a group,
        it ends that member (the job layer records it FAILED with the error)."""
        if self.single:
            return fn(*args)
        try:
            return fn(*args)
        except Exception as err:
            self.results[i].error = err
            self._stop(i)
            return None

    def _stop(self, i: int) -> None:
        if i in self.alive:
            self.alive.remove(i)
            if isinstance(self.opt, StackedOptimizer):
                self.opt.stop(i)

    @torch.no_grad()
    def _metrics(self) -> list[dict[str, float]]:
        """Every member's train/ and val/ loss and score as it is now (a stack: in one batched
        forward pass over the members' splits)."""
        if self.single:
            member = self.members[0]
            return [epoch_metrics(member.model, self.loss_fn, member.data, self.device)]
        name, parts = TASKS[self.task].score, {}
        for part, x, y in (("train", self.x_all, self.y_all), ("val", self.xv_all, self.yv_all)):
            logits = self.stacked(x)
            parts[part] = (
                member_losses(self.loss_name, logits, y).tolist(),
                member_scores(self.task, logits, y).tolist(),
            )
        return [
            {f"{part}/{key}": parts[part][j][i] for part in ("train", "val") for j, key in enumerate(("loss", name))}
            for i in range(len(self.members))
        ]

    def _epoch(self, epoch: int, steps: int) -> None:
        """Every live member's epoch metrics; a non-finite loss stops it, diverged."""
        metrics = self._metrics()
        for i in list(self.alive):
            member, result = self.members[i], self.results[i]
            if epoch:
                result.epochs, result.final = epoch, metrics[i]
            self._call(i, member.sink.epoch_metrics, epoch, steps, metrics[i])
            if epoch and not all(math.isfinite(metrics[i][k]) for k in ("train/loss", "val/loss")):
                result.diverged, result.reason = True, f"loss turned non-finite in epoch {epoch}"
                self._stop(i)

    def _inputs(self) -> None:
        """Each member's training split on the device, its generator, and its probe on the
        first draw of that generator (drawn in both probe modes, so that the training order,
        the generator's next draws, is the same whichever batch the stats come from)."""
        t, p, device = self.t, self.p, self.device
        self.xs = [m.data.x_train.to(device) for m in self.members]
        self.ys = [m.data.y_train.to(device) for m in self.members]
        self.gens = [torch.Generator().manual_seed(m.cfg.seed) for m in self.members]
        self.probes = []
        for member, x, y, gen in zip(self.members, self.xs, self.ys, self.gens, strict=True):
            idx = probe_indices(len(x), p.batch_size or t.batch_size, gen).to(device)
            self.probes.append(Probe(member.model, x[idx], y[idx], self.loss_fn))
        if not self.single:
            self.x_all, self.y_all = torch.stack(self.xs), torch.stack(self.ys)
            self.xv_all = torch.stack([m.data.x_val.to(device) for m in self.members])
            self.yv_all = torch.stack([m.data.y_val.to(device) for m in self.members])
            self.rows = torch.arange(len(self.members), device=device).unsqueeze(1)
            if p.batch == "train":
                self.tracer = StackedProbe(self.stacked, self.probes)

    def train(self) -> list[TrainResult]:
        """Epoch 0 is the state before the first update; probe stats at step 0, every
        `probe.every` steps and the last. A non-finite training loss ends a member's training
        early with `diverged` set; it is a result, not an error."""
        self._inputs()
        cfg, n = self.members[0].cfg, len(self.xs[0])
        last = last_step(n, cfg)
        recorded = thinned(probe_steps(n, cfg), self.p.distributions)  # steps that record distributions
        self._epoch(0, 0)
        step = 0
        for epoch in range(1, self.t.epochs + 1):
            orders = [torch.randperm(n, generator=gen).to(self.device) for gen in self.gens]
            order = orders[0] if self.single else torch.stack(orders)
            for start in range(0, n, self.t.batch_size):
                interrupt.check()
                probing = step % self.p.every == 0 or step == last
                if not self._step(step, order[..., start : start + self.t.batch_size], probing, step in recorded):
                    return self.results
                step += 1
            self._epoch(epoch, step)
            if not self.alive:
                break
        return self.results

    def _step(self, step: int, idx: Tensor, probing: bool, recorded: bool) -> bool:
        """One optimiser step of every live member on its batch `idx` (a member's indices, [N,
        batch] for a stack), with the probe's stats around it when `probing`; False once no
        member is left."""
        at = step if recorded else None
        on_train_batch = self.p.batch == "train"
        pending: dict[int, PendingStats] = {}
        if probing and not on_train_batch:
            for i in list(self.alive):
                if (measured := self._call(i, self.probes[i].measure, at)) is not None:
                    pending[i] = measured
        self.opt.zero_grad(set_to_none=True)
        keep: list[tuple[Tensor, Tensor, Tensor]] | None = [] if probing and on_train_batch else None
        if self.single:
            loss = self.loss_fn(self.members[0].model(self.xs[0][idx], keep=keep), self.ys[0][idx])
            values = [loss.item()]
        else:
            logits = self.stacked(self.x_all[self.rows, idx], keep=keep)
            loss = member_losses(self.loss_name, logits, self.y_all[self.rows, idx])
            values = loss.tolist()
        for i in list(self.alive):
            if not math.isfinite(values[i]):
                self.results[i].diverged = True
                self.results[i].reason = f"training loss turned non-finite at step {step}"
                pending.pop(i, None)
                self._stop(i)
        if not self.alive:
            return False
        traced: tuple[Tensor, Tensor, Tensor, dict[int, list[Row]]] | None = None
        # A shorter last batch's gradient norms (~1/sqrt(rows)) are rescaled to a full batch's.
        scale = math.sqrt(idx.shape[-1] / self.t.batch_size)
        if keep is not None and self.single:
            pending[0] = self.probes[0].measure_step(keep, loss, scale, at)
        elif keep is not None:
            traced = self._trace(keep, loss, scale, at)
        elif self.single:
            loss.backward()
        else:
            loss[torch.tensor(self.alive, device=self.device)].sum().backward()
        self.opt.step()
        for i, stats in pending.items():
            if i in self.alive:
                self._call(i, _finish_and_send, self.members[i].sink, self.probes[i], step, stats)
        if traced is not None:
            stacked_stats = self.tracer.finish(*traced[:3]).cpu()  # one copy from a GPU, not one a member
            for i in list(self.alive):
                self._call(i, _send, self.members[i].sink, step, stacked_stats[i], traced[3].get(i))
        for i in self.alive:
            self.results[i].steps += 1
        return True

    def _trace(
        self, keep: list[tuple[Tensor, Tensor, Tensor]], loss: Tensor, scale: float, at: int | None
    ) -> tuple[Tensor, Tensor, Tensor, dict[int, list[Row]]]:
        """probe=train in a stack: every member's stats of this step from one autograd call
        (which leaves the optimiser its gradients), the flat weights before the update, the
        live members, and at a recorded step each live member's distributions."""
        alive = torch.tensor(self.alive, device=self.device)
        stats, before, grads = self.tracer.step(keep, loss[alive].sum(), scale, alive)
        rows: dict[int, list[Row]] = {}
        if at is not None:
            for i in list(self.alive):
                if (mine := self._call(i, self.tracer.distributions, i, at, keep, grads, scale**2)) is not None:
                    rows[i] = mine
        return stats, before, alive, rows
