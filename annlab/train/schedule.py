"""A run's schedule: its probe batch, its last step, the steps it probes and those it records."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from annlab.config import RunConfig


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
