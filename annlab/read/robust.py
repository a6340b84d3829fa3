"""Robust aggregates over runs x tasks as rliable computes them: IQM, stratified bootstrap, P(improvement)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

# A score matrix: rows are runs (seeds), columns are tasks (datasets).
Scores = np.ndarray


def iqm(scores: Scores) -> float:
    """The interquartile mean of every score: the mean of the middle 50% (25% trimmed each side)."""
    return float(stats.trim_mean(np.asarray(scores, dtype=float).ravel(), 0.25))


def probability_of_improvement(x: Scores, y: Scores) -> float:
    """P(X > Y): for each task the chance that a run of x beats a run of y (ties count half, the
    Mann-Whitney U statistic over n*m pairs), averaged over tasks."""
    per_task = []
    for j in range(x.shape[1]):
        a, b = x[:, j][:, None], y[:, j][None, :]
        per_task.append(float(np.mean((a > b) + 0.5 * (a == b))))
    return float(np.mean(per_task))


def stratified_bootstrap(
    samples: tuple[Scores, ...], statistic: Callable[..., float], reps: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """The statistic and its percentile interval, resampling runs with replacement within each task
    (each matrix of `samples` on its own), as rliable's StratifiedBootstrap does."""
    rng = np.random.default_rng(seed)
    point = statistic(*samples)
    draws = np.empty(reps)
    for r in range(reps):
        resampled = []
        for s in samples:
            idx = rng.integers(0, s.shape[0], size=s.shape)  # a run index per (row, task)
            resampled.append(np.take_along_axis(s, idx, axis=0))
        draws[r] = statistic(*resampled)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(draws, [tail, 100 - tail])
    return point, float(lo), float(hi)
