"""Mean pairwise cosines of many rows without the n x n matrix: weight rows (units), example rows (z)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor


def as_lengths(values: Sequence[int]) -> Tensor:
    return torch.tensor(values, dtype=torch.long)


def segment_offsets(lengths: Tensor) -> Tensor:
    """Segment boundaries for torch.segment_reduce (a little faster than its lengths=)."""
    return torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(lengths, 0)])


def segment_sum(values: Tensor, offsets: Tensor) -> Tensor:
    return torch.segment_reduce(values, "sum", offsets=offsets)


def norms(tensors: Sequence[Tensor]) -> Tensor:
    """The Frobenius norm of each tensor, in one fused call, accumulated in float64: the
    gradients of a deep sigmoid net are ~1e-25 at layer 1, whose float32 squares are 0."""
    return torch.stack(torch._foreach_norm(tensors, 2, dtype=torch.float64)).float()


class WeightLayout:
    """Per-layer reductions of a list of weight matrices [n_l, m_l] kept flattened and
    concatenated in one vector: a few ops for the whole network, however deep.

    Consecutive layers of one fan-in (all but the first, in a plain MLP) are one contiguous
    [rows, fan-in] block of that vector, so their rows are reduced together without a copy.
    """

    def __init__(self, shapes: Sequence[tuple[int, int]]):
        self.sizes = [n * m for n, m in shapes]
        self.rows = as_lengths([n for n, _ in shapes])
        # (fan-in, element slice, row offsets of the block's layers) per block of one fan-in.
        self.blocks: list[tuple[int, slice, Tensor]] = []
        start = 0
        for fan_in, run in itertools.groupby(shapes, key=lambda shape: shape[1]):
            rows = [n for n, _ in run]
            stop = start + sum(rows) * fan_in
            self.blocks.append((fan_in, slice(start, stop), segment_offsets(as_lengths(rows))))
            start = stop
        self.units = self.rows.double()  # per layer, in float64 for unit_cosine

    def to(self, device: torch.device) -> None:
        """Keep the layout's tensors on `device` (that of the weights it reduces)."""
        self.rows, self.units = self.rows.to(device), self.units.to(device)
        self.blocks = [(fan_in, elements, offsets.to(device)) for fan_in, elements, offsets in self.blocks]

    def split(self, flat: Tensor) -> tuple[Tensor, ...]:
        """Each layer's part of `flat` (views)."""
        return torch.split(flat, self.sizes)

    def unit_cosine(self, flat: Tensor) -> Tensor:
        """Mean pairwise cosine similarity of each layer's rows, from the flat weights.

        The off-diagonal sum of the rows' cosine matrix is ||sum_i u_i||^2 - sum_i ||u_i||^2
        for unit rows u_i, so no n x n matrix is formed. Identical rows give 1.0 (symmetry never
        broken); two all-zero rows count as identical, so an all-zero layer reads 1.0 too; a
        layer with one unit has no pair and reads 1.0.
        """
        summed_sq, nonzero = [], []
        # float64: rows that shrink towards zero (sigmoid nets from a zero init do) have
        # float32 squares that underflow, which made a non-zero row look like a zero one.
        flat64 = flat.double()
        for fan_in, elements, offsets in self.blocks:
            rows = flat64[elements].view(-1, fan_in)
            norms = torch.linalg.vector_norm(rows, dim=1, keepdim=True)
            unit = rows / norms.clamp_min(torch.finfo(rows.dtype).tiny)
            unit_sums = torch.segment_reduce(unit, "sum", offsets=offsets)
            summed_sq.append(torch.linalg.vector_norm(unit_sums, dim=1).square())
            nonzero.append(segment_sum((norms.squeeze(1) > 0).double(), offsets))
        # The difference below cancels when rows are nearly orthogonal: float64 keeps it exact.
        return _mean_cosine(torch.cat(summed_sq), torch.cat(nonzero), self.units).to(flat.dtype)


def unit_cosine(matrices: Sequence[Tensor]) -> Tensor:
    """Mean pairwise cosine similarity of the rows of each matrix (see WeightLayout.unit_cosine)."""
    layout = WeightLayout([tuple(w.shape) for w in matrices])
    return layout.unit_cosine(torch.cat([w.reshape(-1) for w in matrices]))


def _mean_cosine(summed_sq: Tensor, nonzero: Tensor, rows: Tensor) -> Tensor:
    """The mean pairwise cosine of groups of `rows` rows from ||sum_i u_i||^2 of their unit rows
    and how many are non-zero: the off-diagonal sum of the cosine matrix is that less the
    non-zero count, two all-zero rows count as identical (1), an all-zero and another as 0; a
    group of one row has no pair and reads 1."""
    zero = rows - nonzero
    pairs = rows * (rows - 1)
    cosine = (summed_sq - nonzero + zero * (zero - 1)) / pairs.clamp_min(1)
    return torch.where(pairs > 0, cosine, 1.0)


def example_cosine(z: Tensor, membership: Tensor) -> Tensor:
    """Per layer, the mean pairwise cosine between the examples' pre-activations (the rows of
    each layer's block of columns of `z`, [batch, units]; `membership` [units, layers] says
    which layer a column is of): 1.0 when every example looks alike. O(batch x units) in a few
    products, in z's float32 (a row whose squares all underflow, |z| below ~1e-19, reads as an
    all-zero row; float64 cost half a bare training step, and its sums gained nothing here: the
    difference below is of numbers at most batch^2)."""
    row_sq = z.square() @ membership  # [batch, layers]
    inverse = row_sq.rsqrt().nan_to_num(0.0, posinf=0.0)
    summed_sq = (z * (inverse @ membership.T)).sum(0).square() @ membership
    rows = torch.tensor(float(z.shape[0]), dtype=z.dtype, device=z.device)
    return _mean_cosine(summed_sq, (row_sq > 0).sum(0).to(z.dtype), rows)
