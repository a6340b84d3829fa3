"""Per-layer histograms and quantiles of z, a, dL/dz and dL/dW on the probe batch (the distributions record)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from annlab.bins import QUANTITIES, edges, scheme

QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
QUANTILE_COLUMNS: tuple[str, ...] = tuple(f"q{round(q * 100):02d}" for q in QUANTILES)
# The columns of one record row: a row per (step, layer, quantity). `counts` holds the
# underflow bin, the bins of `bins` (annlab.bins.edges) and the overflow bin; `n` counts every
# value, `nan` the NaNs among them (in no bin), so sum(counts) + nan == n.
COLUMNS: tuple[str, ...] = ("step", "layer", "quantity", "bins", "n", "nan", "counts", *QUANTILE_COLUMNS, "abs_q50")
Row = tuple[object, ...]


class Distributions:
    """Measures the distributions of every quantity of every layer of one network: a fixed
    bin scheme per (quantity, layer), chosen from the layer's activation (annlab.bins)."""

    def __init__(self, activation_names: Sequence[str]):
        # activation_names: each linear layer's activation, the output layer's last.
        self.schemes = {(q, i): scheme(q, name) for i, name in enumerate(activation_names) for q in QUANTITIES}
        self._edges = {name: np.asarray(edges(name), dtype=np.float32) for name in set(self.schemes.values())}
        self._quantiles = np.asarray(QUANTILES)

    def rows(
        self,
        step: int,
        keep: Sequence[tuple[Tensor, Tensor, Tensor]],
        grad_z: Sequence[Tensor],
        grad_w: Sequence[Tensor],
        grad_z_scale: float = 1.0,
    ) -> list[Row]:
        """A record row per layer and quantity. `grad_z_scale` multiplies dL/dz (a shorter last
        training batch's, rescaled to a full batch's: each example's share of a mean loss is
        1/rows)."""
        out: list[Row] = []
        with torch.no_grad():
            for i, ((_, z, a), gz, gw) in enumerate(zip(keep, grad_z, grad_w, strict=True)):
                gz = gz * grad_z_scale if grad_z_scale != 1.0 else gz
                for quantity, values in zip(QUANTITIES, (z, a, gz, gw), strict=True):
                    out.append((step, i + 1, quantity, *self._measure(self.schemes[quantity, i], values)))
        return out

    def _measure(self, name: str, values: Tensor) -> tuple[object, ...]:
        """One sort of the values gives everything: the bins' counts are differences of the
        edges' positions in the sorted values, and the quantiles are read off by rank (linear
        interpolation, as torch.quantile does). numpy's sort is ~15x torch's on CPU here."""
        v = values.detach().reshape(-1).float().cpu().numpy()
        n = v.size
        nan = np.isnan(v)
        n_nan = int(nan.sum())
        if n_nan:
            v = v[~nan]
        e = self._edges[name]
        if v.size == 0:
            return (name, n, n_nan, [0] * (len(e) + 1), *[float("nan")] * (len(QUANTILES) + 1))
        s = np.sort(v)
        # Bin i holds edges[i-1] <= v < edges[i]; the top edge itself counts in the last bin.
        at = np.searchsorted(s, e, side="left")
        at[-1] = np.searchsorted(s, e[-1], side="right")
        counts = np.diff(at, prepend=0, append=s.size).tolist()
        rank = self._quantiles * (s.size - 1)
        below = np.floor(rank).astype(np.int64)
        above = np.ceil(rank).astype(np.int64)
        # A quantile between two infinite values (a diverged run) reads NaN, as torch.quantile's does.
        with np.errstate(invalid="ignore"):
            q = (s[below] + (s[above] - s[below]) * (rank - below)).tolist()
        middle = (s.size - 1) // 2  # the lower median, as torch.median gives
        abs_median = float(np.partition(np.abs(s), middle)[middle])
        return (name, n, n_nan, counts, *q, abs_median)
