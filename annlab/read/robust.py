"""Robust aggregates over runs x tasks as rliable computes them: IQM, stratified bootstrap, P(improvement)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

# A score matrix: rows are runs (seeds), columns are tasks (datasets).
Scores = np.ndarray


def iqm(scores: Scores) -> np.ndarray:
    """The interquartile mean of every score: the mean of the middle 50% (25% trimmed each side).
    Over the last two axes ([runs, tasks]); leading axes are a batch (bootstrap draws)."""
    s = np.asarray(scores, dtype=float)
    return stats.trim_mean(s.reshape(*s.shape[:-2], -1), 0.25, axis=-1)


def probability_of_improvement(x: Scores, y: Scores) -> np.ndarray:
    """P(X > Y): for each task the chance that a run of x beats a run of y (ties count half, the
    Mann-Whitney U statistic over n*m pairs), averaged over tasks; leading axes are a batch."""
    a, b = x[..., :, None, :], y[..., None, :, :]
    return np.mean((a > b) + 0.5 * (a == b), axis=(-3, -2)).mean(axis=-1)


def stratified_bootstrap(
    samples: tuple[Scores, ...],
    statistic: Callable[..., np.ndarray],
    reps: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """The statistic and its percentile interval, resampling runs with replacement within each task
    (each matrix of `samples` on its own), as rliable's StratifiedBootstrap does. All draws at
    once: `statistic` takes a leading batch axis."""
    rng = np.random.default_rng(seed)
    point = float(statistic(*samples))
    resampled = []
    for s in samples:
        idx = rng.integers(0, s.shape[0], size=(reps, *s.shape))  # a run index per (draw, row, task)
        resampled.append(np.take_along_axis(np.broadcast_to(s, (reps, *s.shape)), idx, axis=1))
    draws = statistic(*resampled)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(draws, [tail, 100 - tail])
    return point, float(lo), float(hi)
