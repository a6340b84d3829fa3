"""A stack's per-layer reductions for every-step tracing on the CPU, each in one pass, compiled by numba."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from numba import njit
from torch import Tensor

from annlab.train.cosines import _mean_cosine
from annlab.train.stacked_reductions import Keep, StackShape

# Reassociation lets LLVM vectorise the float64 sums (3x torch's separate reductions here);
# no "nnan"/"ninf": a diverging member's inf and NaN keep their meaning.
_FAST = {"reassoc", "contract", "nsz", "arcp"}


def _compiled(fn: Callable[..., None]) -> Callable[..., None]:
    """fn compiled on first use, and cached on disk (next to this file, or in the user's cache)
    for the next process; where neither is writable, compiled in every process instead."""
    try:
        return njit(cache=True, nogil=True, fastmath=_FAST)(fn)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return njit(nogil=True, fastmath=_FAST)(fn)


# The columns of layer_sums' out: z's mean and std, a's mean and std, a's values outside the
# band, its units whose a is 0 on every example (dead), ||sum of the examples' unit z rows||^2
# and the examples whose z row is not all zero.
Z_MEAN, Z_STD, A_MEAN, A_STD, HITS, DEAD, EXAMPLE_SUM, NONZERO = range(8)


@_compiled
def layer_sums(z: np.ndarray, a: np.ndarray, centre: float, half_width: float, out: np.ndarray) -> None:
    """One layer of every member, z and a [N, batch, width] float32, in one pass: out [N, 8]
    float64 (see the columns above; HITS counts |a - centre| > half_width, none where
    half_width is inf).

    Moments are accumulated in float64 about the member's first value (shifted data: no
    cancellation for a sigmoid's a near 1/2 with a small spread); each example's z row is
    normalised while it is in L1 and added to the sum of unit rows."""
    n, batch, width = z.shape
    acc, a_max = np.empty(width), np.empty(width, dtype=a.dtype)
    values = batch * width
    # The band is tested in a's own precision, as Probe's rule is: a value between the float32
    # and the float64 edge would count otherwise.
    centre_a, half_width_a = a.dtype.type(centre), a.dtype.type(half_width)
    for m in range(n):
        z0, a0 = np.float64(z[m, 0, 0]), np.float64(a[m, 0, 0])
        z_sum = z_sq = a_sum = a_sq = hits = nonzero = 0.0
        acc[:] = 0.0
        a_max[:] = 0.0
        for i in range(batch):
            row = 0.0
            for u in range(width):
                x = np.float64(z[m, i, u])
                y = np.float64(a[m, i, u])
                row += x * x
                z_sum += x - z0
                z_sq += (x - z0) * (x - z0)
                a_sum += y - a0
                a_sq += (y - a0) * (y - a0)
                size = abs(a[m, i, u])
                a_max[u] = size if not size <= a_max[u] else a_max[u]  # NaN stays NaN: not dead
                hits += 1.0 if abs(a[m, i, u] - centre_a) > half_width_a else 0.0
            if row > 0.0:
                nonzero += 1.0
                inverse = 1.0 / np.sqrt(row)
                for u in range(width):
                    acc[u] += z[m, i, u] * inverse
        degrees = max(values - 1, 1)
        out[m, Z_MEAN] = z0 + z_sum / values
        out[m, Z_STD] = np.sqrt(max(z_sq - z_sum * z_sum / values, 0.0) / degrees)
        out[m, A_MEAN] = a0 + a_sum / values
        out[m, A_STD] = np.sqrt(max(a_sq - a_sum * a_sum / values, 0.0) / degrees)
        out[m, HITS] = hits
        out[m, DEAD] = np.sum(a_max == 0.0)
        out[m, EXAMPLE_SUM] = np.sum(acc * acc)
        out[m, NONZERO] = nonzero


@_compiled
def weight_sums(flat: np.ndarray, starts: np.ndarray, rows: np.ndarray, fan_ins: np.ndarray, out: np.ndarray) -> None:
    """Every member's flat weights [N, weights] float32 (layer l's [rows, fan-in] block from
    starts[l]), in one pass: out [N, layers, 3] float64, each layer's sum of squares, ||sum of
    its unit rows||^2 and its rows that are not all zero (WeightLayout.unit_cosine's parts),
    in float64 as Probe's are."""
    acc = np.empty(fan_ins.max())
    for m in range(flat.shape[0]):
        for layer in range(len(starts)):
            fan_in = fan_ins[layer]
            acc[:fan_in] = 0.0
            total = nonzero = 0.0
            for r in range(rows[layer]):
                # A row as a slice of its own: indices from 0 (numba's negative-index check,
                # which stops LLVM vectorising, is dropped)
                weights = flat[m, starts[layer] + r * fan_in : starts[layer] + (r + 1) * fan_in]
                row = 0.0
                for k in range(fan_in):
                    row += np.float64(weights[k]) * np.float64(weights[k])
                total += row
                if row > 0.0:
                    nonzero += 1.0
                    inverse = 1.0 / np.sqrt(row)
                    for k in range(fan_in):
                        acc[k] += weights[k] * inverse
            out[m, layer, 0] = total
            out[m, layer, 1] = np.sum(acc[:fan_in] * acc[:fan_in])
            out[m, layer, 2] = nonzero


@_compiled
def step_norms(after: np.ndarray, before: np.ndarray, starts: np.ndarray, sizes: np.ndarray, out: np.ndarray) -> None:
    """Each member's and layer's ||after - before|| of flat weights [N, weights] float32 (layer
    l's from starts[l], sizes[l] of them), summed in float64: out [N, layers]."""
    for m in range(after.shape[0]):
        for layer in range(len(starts)):
            total = 0.0
            new, old = after[m, starts[layer] : starts[layer] + sizes[layer]], before[m, starts[layer] :]
            for k in range(sizes[layer]):
                step = np.float64(new[k]) - np.float64(old[k])
                total += step * step
            out[m, layer] = np.sqrt(total)


def load() -> None:
    """Compile every pass for float32 (the first process on a machine: a few seconds) or load it
    from numba's cache (~0.3 s), before a traced group's clock starts, as an import would."""
    z, out = np.zeros((1, 1, 1), dtype=np.float32), np.empty((1, 8))
    layer_sums(z, z, 0.0, 1.0, out)
    flat, start, one = np.zeros((1, 1), dtype=np.float32), np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.int64)
    weight_sums(flat, start, one, one, np.empty((1, 1, 3)))
    step_norms(flat, flat, start, one, np.empty((1, 1)))


class FusedReductions:
    """TensorReductions' results from the compiled passes above, for a stack on the CPU whose
    saturation rules are bands or none: torch's separate reductions, a dozen small ops a layer,
    cost 3x as much there (each pays its dispatch and a pass over memory)."""

    def __init__(self, shape: StackShape):
        if any(callable(rule) for rule in shape.saturation):
            raise ValueError("a user's saturation rule on z runs in tensor ops (TensorReductions)")
        self.shape = shape
        self.bands = [rule if isinstance(rule, tuple) else (0.0, math.inf) for rule in shape.saturation]
        self.widths64 = shape.widths.double()  # a layer's units, and its weight's rows
        self.layout = (
            np.cumsum([0, *shape.weight_sizes[:-1]]),  # where each layer's weights start
            np.array([rows for rows, _ in shape.weight_shapes]),
            np.array([fan_in for _, fan_in in shape.weight_shapes]),
        )
        self.sizes = np.array(shape.weight_sizes)
        # The passes' outputs, kept: [layers, N, columns], [N, layers, 3] and [N, layers].
        self._layers = np.empty((shape.n_layers, shape.members, NONZERO + 1))
        self._weights = np.empty((shape.members, shape.n_layers, 3))
        self._steps = np.empty((shape.members, shape.n_layers))

    def layers(self, keep: Keep, batch: int) -> Tensor:
        """Each layer's z mean and std, a mean and std, saturated and dead shares and example
        cosine, [7, N, layers]: one pass over each layer's z and a."""
        for out, (_, z, a), (centre, half_width) in zip(self._layers, keep, self.bands, strict=True):
            layer_sums(z.detach().numpy(), a.detach().numpy(), centre, half_width, out)
        sums = torch.from_numpy(self._layers).permute(2, 1, 0)  # [columns, N, layers]
        examples = _mean_cosine(sums[EXAMPLE_SUM], sums[NONZERO], self.shape.batch_rows(batch).double())
        count = self.widths64 * batch
        parts = [*sums[[Z_MEAN, Z_STD, A_MEAN, A_STD]], sums[HITS] / count, sums[DEAD] / self.widths64, examples]
        return torch.stack(parts).float()

    def weights(self, flat: Tensor) -> tuple[Tensor, Tensor]:
        """Per member and layer, the weight's norm and the mean pairwise cosine of its rows, from
        the flat weights [N, weights] in one pass (in float64, as TensorReductions')."""
        weight_sums(flat.numpy(), *self.layout, self._weights)
        sums = torch.from_numpy(self._weights)
        return sums[..., 0].sqrt().float(), _mean_cosine(sums[..., 1], sums[..., 2], self.widths64).float()

    def steps(self, after: Tensor, before: Tensor, alive: Tensor) -> Tensor:
        """Each member's and layer's ||after - before|| of flat weights [N, weights], summed in
        float64 (no range to check), [N, layers]."""
        step_norms(after.numpy(), before.numpy(), self.layout[0], self.sizes, self._steps)
        return torch.from_numpy(self._steps).float()
