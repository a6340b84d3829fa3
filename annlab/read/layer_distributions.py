"""Pure aggregations of the distributions record: histograms summed over runs, folded to magnitudes, quantiles."""

from __future__ import annotations

import numpy as np
import pandas as pd

from annlab.bins import edges, magnitude_edges

GROUP = ["activation", "init", "depth"]
# The columns of a tidy histogram frame: a row per bin of a layer's histogram. `share` is the
# bin's share of every value counted (under/overflow and NaN included, so shares of a layer
# sum to at most 1); lo and hi are the bin's edges.
# `central` marks a log scheme's bin of values below its smallest magnitude (exact zeros among them).
TIDY = [*GROUP, "when", "step", "first_step", "layer", "bins", "runs", "bin", "lo", "hi", "share", "central"]


def _summed(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Counts summed over the runs of each group (their bins are the same: fixed per family)."""
    out = []
    for key, part in rows.groupby(by, observed=True, sort=True):
        counts = np.sum(np.stack(part.counts.to_numpy()), axis=0)
        out.append((*key, part.run_id.nunique(), int(part.n.sum()), counts))
    return pd.DataFrame(out, columns=[*by, "runs", "n", "counts"])


def histograms(dist: pd.DataFrame, runs: pd.DataFrame, quantity: str, ends_only: bool = True) -> pd.DataFrame:
    """The hidden layers' histograms of `quantity`, counts summed over the runs of each
    activation x init x depth (seeds and datasets pooled). With `ends_only`, each run's first
    recorded step is `when="init"` and its last `when="end"` (step and first_step: the largest
    and smallest of the runs' last steps; runs on larger datasets take more steps); otherwise
    every recorded step, `when` = its number. One row per layer
    histogram, with the summed `counts` (underflow first, overflow last)."""
    rows = dist[dist.quantity == quantity].merge(runs[["run_id", *GROUP]], on="run_id")
    rows = rows[rows.layer <= rows.depth]
    if rows.empty:
        return pd.DataFrame(columns=[*GROUP, "when", "step", "first_step", "layer", "bins", "runs", "n", "counts"])
    if ends_only:
        first = rows.groupby("run_id").step.transform("min")
        last = rows.groupby("run_id").step.transform("max")
        ends = rows[(rows.step == first) | (rows.step == last)]
        rows = ends.assign(when=np.where(ends.step == first.loc[ends.index], "init", "end"))
    else:
        rows = rows.assign(when=rows.step.astype(str))
    summed = _summed(rows, [*GROUP, "when", "layer", "bins"])
    steps = rows.groupby([*GROUP, "when"], observed=True).step.agg(step="max", first_step="min").reset_index()
    return summed.merge(steps, on=[*GROUP, "when"])


def folded(frame: pd.DataFrame) -> pd.DataFrame:
    """Signed log histograms folded to magnitudes |v|: the two halves' mirrored bins added, the
    central bin (|v| below the scheme's smallest magnitude) kept as the first bin, the under-
    and overflow (|v| above its largest) as the last."""

    def fold(counts: np.ndarray) -> np.ndarray:
        inner = counts[1:-1]  # negative bins, the central bin, positive bins
        half = len(inner) // 2
        magnitudes = inner[half + 1 :] + inner[:half][::-1]
        return np.concatenate([[inner[half]], magnitudes, [counts[0] + counts[-1]]])

    if not frame.bins.str.startswith("slog:").all():
        raise ValueError("only signed log histograms fold to magnitudes")
    return frame.assign(counts=frame.counts.map(fold), bins="mag:" + frame.bins.str.removeprefix("slog:"))


def bin_edges(name: str) -> np.ndarray:
    """The drawn edges of a scheme: a folded one ("mag:") starts with the central bin's stand-in
    [smallest / 10, smallest)."""
    if name.startswith("mag:"):
        positive = magnitude_edges("slog:" + name.removeprefix("mag:"))
        return np.asarray([positive[0] / 10, *positive])
    return np.asarray(edges(name))


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """A row per bin: lo, hi and the bin's share of the layer's values. The under- and overflow
    bins of a scheme are left out of the rows (their shares are still in the denominator)."""
    parts = []
    for row in frame.itertuples(index=False):
        e = bin_edges(row.bins)
        counts = np.asarray(row.counts, dtype=float)
        inner = counts[: len(e) - 1] if row.bins.startswith("mag:") else counts[1 : len(e)]
        share = inner / max(row.n, 1)
        base = {c: getattr(row, c) for c in [*GROUP, "when", "step", "first_step", "layer", "bins", "runs"]}
        lo, hi = e[:-1], e[1:]
        central = np.zeros(len(inner), dtype=bool)  # linear schemes have none
        if row.bins.startswith("slog:"):
            central = (lo < 0) & (hi > 0)
        elif row.bins.startswith("mag:"):
            central[0] = True  # the folded central bin's stand-in
        bins = {"bin": np.arange(len(inner)), "lo": lo, "hi": hi, "share": share, "central": central}
        parts.append(pd.DataFrame({**base, **bins}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=TIDY)


def quantile(frame: pd.DataFrame, q: float) -> pd.Series:
    """The `q` quantile of each histogram of a tidy frame (a value per group of GROUP, when, layer),
    interpolated inside its bin: linearly, or geometrically on a log (folded) scheme."""

    def one(part: pd.DataFrame) -> float:
        share = part.share.to_numpy()
        total = share.sum()
        if total <= 0:
            return float("nan")
        cum = np.cumsum(share) / total
        i = int(np.searchsorted(cum, q))
        lo, hi = float(part.lo.iloc[i]), float(part.hi.iloc[i])
        before = cum[i - 1] if i else 0.0
        t = (q - before) / max(cum[i] - before, 1e-300)
        if part.bins.iloc[0].startswith("mag:") and lo > 0:
            return float(lo * (hi / lo) ** t)
        return lo + (hi - lo) * t

    return frame.groupby([*GROUP, "when", "layer"], observed=True).apply(one, include_groups=False)


def shown_depths(frame: pd.DataFrame, most: int = 2) -> pd.DataFrame:
    """Each activation x init at every depth it has, or only at its deepest when it has more
    than `most` depths."""
    deepest = frame.groupby(["activation", "init"]).depth.transform("max")
    many = frame.groupby(["activation", "init"]).depth.transform("nunique") > most
    return frame[~many | (frame.depth == deepest)]
