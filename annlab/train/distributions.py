"""Per-layer histograms and quantiles of z, a, dL/dz and dL/dW on the probe batch (the distributions record)."""

from __future__ import annotations

from collections.abc import Sequence

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
# torch.quantile refuses larger inputs; a bigger layer's quantiles come from an even subsample.
MAX_QUANTILE_VALUES = 1 << 24


class Distributions:
    """Measures the distributions of every quantity of every layer of one network: a fixed
    bin scheme per (quantity, layer), chosen from the layer's activation (annlab.bins)."""

    def __init__(self, activation_names: Sequence[str]):
        # activation_names: each linear layer's activation, the output layer's last.
        self.schemes = {(q, i): scheme(q, name) for i, name in enumerate(activation_names) for q in QUANTITIES}
        self._edges = {name: torch.tensor(edges(name)) for name in set(self.schemes.values())}
        self._quantiles = torch.tensor(QUANTILES)

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
        v = values.detach().reshape(-1).float().cpu()
        n = v.numel()
        nan = torch.isnan(v)
        n_nan = int(nan.sum())
        if n_nan:
            v = v[~nan]
        e = self._edges[name]
        idx = torch.bucketize(v, e, right=True)
        idx[v == e[-1]] = len(e) - 1  # the top edge belongs to the last bin (sigmoid's a == 1.0)
        counts = torch.bincount(idx, minlength=len(e) + 1).tolist()
        if v.numel() == 0:
            return (name, n, n_nan, counts, *[float("nan")] * (len(QUANTILES) + 1))
        sample = v[:: -(-v.numel() // MAX_QUANTILE_VALUES)]
        q = torch.quantile(sample, self._quantiles).tolist()
        return (name, n, n_nan, counts, *q, float(sample.abs().median()))
