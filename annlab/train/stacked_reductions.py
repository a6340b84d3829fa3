"""A stack's per-layer reductions for every-step tracing in tensor ops: on a GPU, or with a user's rule on z."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from annlab.train.cosines import _mean_cosine

Keep = list[tuple[Tensor, Tensor, Tensor]]
# A layer's saturation: a built-in activation's band (centre, half-width) on a, a user's bounded
# activation's rule (on z, by its own module), or none.
Rule = tuple[float, float] | Callable[[Tensor, Tensor], Tensor] | None


@dataclass
class StackShape:
    """What a stack's reductions need of it: its members, each layer's units (float32, on the
    stack's device), weight (rows, fan-in) and saturation rule."""

    members: int
    widths: Tensor
    weight_shapes: list[tuple[int, int]]
    saturation: list[Rule]
    _rows: dict[int, Tensor] = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return len(self.weight_shapes)

    @property
    def weight_sizes(self) -> list[int]:
        return [rows * fan_in for rows, fan_in in self.weight_shapes]

    def batch_rows(self, batch: int) -> Tensor:
        """The batch's size as a tensor on the stack's device (_mean_cosine's rows), kept."""
        if batch not in self._rows:
            self._rows[batch] = torch.tensor(float(batch), device=self.widths.device)
        return self._rows[batch]


def float32_norms(tensors: Sequence[Tensor]) -> Tensor:
    """The Frobenius norm of each member's slice of each tensor, in float32: [N, tensors]."""
    return torch.stack([torch.linalg.vector_norm(t.flatten(1), dim=1) for t in tensors], 1)


def member_norms(tensors: Sequence[Tensor], alive: Tensor, out: Tensor | None = None) -> Tensor:
    """The Frobenius norm of each member's slice of each tensor ([N, ...] each), [N, tensors]
    (`out`: their float32 norms, already taken).

    In float32, one reduction a tensor; where a live member's norm is outside float32's safe
    range (a sum of squares below 1e-30, where underflowed squares could matter: a deep sigmoid
    net's gradients are ~1e-25; or overflowing), that tensor again in float64, as Probe's norms
    always are: converting every gradient to float64 cost more than the rest of the stats."""
    out = float32_norms(tensors) if out is None else out
    live = out if len(alive) == len(out) else out.index_select(0, alive)
    low, high = torch.aminmax(live)
    if not (float(low) > 1e-15 and float(high) < 1e15):
        unsafe = ~((live > 1e-15) & (live < 1e15)).all(0)
        for j in unsafe.nonzero().flatten().tolist():
            out[:, j] = torch.linalg.vector_norm(tensors[j].flatten(1), dim=1, dtype=torch.float64).float()
    return out


class TensorReductions:
    """Each layer's z and a ([N, batch, width]) reduced where the forward pass left them, a few
    ops each, gathering only per-layer sums (and each unit's largest |a|): packing every layer
    into one [N, batch, 2 units] matrix first (Probe's way, a few ops for any depth) cost nearly
    twice as much on the CPU, as the pack outgrew the core's cache."""

    def __init__(self, shape: StackShape):
        self.shape = shape
        device = shape.widths.device
        layer_of_unit = torch.repeat_interleave(torch.arange(shape.n_layers), torch.tensor(self.layer_widths))
        self.membership64 = torch.nn.functional.one_hot(layer_of_unit, shape.n_layers).double().to(device)
        # The flat weights before the update in float64, kept between steps (a fresh one would
        # fault its pages in every step).
        self._before64 = torch.empty(shape.members, sum(shape.weight_sizes), dtype=torch.float64, device=device)
        # Rows of the layers of one fan-in, consecutive in the flat weights: (fan-in, element
        # slice, rows a layer) per block, as WeightLayout's blocks.
        self.blocks: list[tuple[int, slice, list[int]]] = []
        start = 0
        for fan_in, run in itertools.groupby(shape.weight_shapes, key=lambda rows_fan_in: rows_fan_in[1]):
            rows = [out for out, _ in run]
            self.blocks.append((fan_in, slice(start, start + sum(rows) * fan_in), rows))
            start += sum(rows) * fan_in
        self.rows = shape.widths.double()  # a weight's rows are its layer's units

    @property
    def layer_widths(self) -> list[int]:
        return [rows for rows, _ in self.shape.weight_shapes]

    def layers(self, keep: Keep, batch: int) -> Tensor:
        """Each layer's z mean and std, a mean and std, saturated and dead shares and example
        cosine, [7, N, layers]."""
        count = self.shape.widths * batch  # values a layer
        # Per layer: the sum of its z and of its a, their squares centred on that mean (two
        # passes, as Probe's), the largest |a| of each unit (0: dead), the saturated count and
        # the example cosine's parts. Each [N, layers] once stacked.
        z_sum, z_sq, a_sum, a_sq, a_max, hits, summed, nonzero = ([] for _ in range(8))
        for (_, z, a), rule, width in zip(keep, self.shape.saturation, self.layer_widths, strict=True):
            values = width * batch
            for x, sums, squares in ((z, z_sum, z_sq), (a, a_sum, a_sq)):
                total = x.sum((1, 2), keepdim=True)
                sums.append(total)
                squares.append(torch.linalg.vector_norm(x - total / values, dim=(1, 2)))
            hit, biggest = self._saturated(z, a, rule)
            hits.append(hit)
            a_max.append(biggest)
            row_norm = torch.linalg.vector_norm(z, dim=2)  # [N, batch]; a zero row adds nothing below
            inverse = row_norm.clamp_min(torch.finfo(z.dtype).tiny).reciprocal_().unsqueeze(1)
            summed.append(torch.linalg.vector_norm(torch.bmm(inverse, z), dim=(1, 2)))
            nonzero.append((row_norm > 0).sum(1, dtype=z.dtype))
        degrees = (count - 1).clamp_min(1).sqrt()
        parts = [
            torch.cat(z_sum, 1).squeeze(2) / count,
            torch.stack(z_sq, 1) / degrees,
            torch.cat(a_sum, 1).squeeze(2) / count,
            torch.stack(a_sq, 1) / degrees,
            (torch.stack(hits, 1) / count).float(),
            self._dead(a_max),
            _mean_cosine(torch.stack(summed, 1).square(), torch.stack(nonzero, 1), self.shape.batch_rows(batch)),
        ]
        return torch.stack(parts)

    def _saturated(self, z: Tensor, a: Tensor, rule: Rule) -> tuple[Tensor, Tensor]:
        """A layer's saturated units x examples, [N] (a band's |a - centre| and its comparison,
        0 and 1 as floats in place: a bool result cost twice as much; counted per unit, exact up
        to 2^24 examples, then in float64), and each unit's largest |a|, [N, width]."""
        if isinstance(rule, tuple):
            centre, half_width = rule
            distance = (a - centre).abs_() if centre else a.abs()
            biggest = distance.amax(1) if not centre else a.abs().amax(1)
            return distance.gt_(half_width).sum(1).sum(1, dtype=torch.float64), biggest
        biggest = a.abs().amax(1)
        if rule is None:
            return torch.zeros(a.shape[0], dtype=torch.float64, device=a.device), biggest
        flags = rule(z, a)
        return flags.sum(1, dtype=torch.float32).sum(1, dtype=torch.float64), biggest

    def _dead(self, a_max: list[Tensor]) -> Tensor:
        """Each layer's share of dead units: units whose a is 0 on every example."""
        is_dead = torch.cat(a_max, 1) == 0  # [N, units]
        return (is_dead.double() @ self.membership64).float() / self.shape.widths

    def weights(self, flat: Tensor) -> tuple[Tensor, Tensor]:
        """Per member and layer, the weight's norm and the mean pairwise cosine of its rows (see
        WeightLayout.unit_cosine), from the flat weights [N, weights] in float64: each block's
        rows' norms in one reduction, each layer's sum of unit rows in one batched product (of
        strided views: no copy)."""
        flat = self._before64.copy_(flat)
        row_norms, summed = [], []
        for fan_in, elements, rows in self.blocks:
            block = flat[:, elements].unflatten(1, (-1, fan_in))  # [N, rows, fan-in]
            norms = torch.linalg.vector_norm(block, dim=2)
            inverse = norms.clamp_min(torch.finfo(block.dtype).tiny).reciprocal().unsqueeze(1)  # [N, 1, rows]
            sums = [
                torch.bmm(inverse[:, :, first:last], block[:, first:last])  # [N, 1, fan-in]
                for first, last in itertools.pairwise([0, *itertools.accumulate(rows)])
            ]
            summed.append(torch.cat(sums, 1).square().sum(2))
            row_norms.append(norms)
        norms = torch.cat(row_norms, 1)
        # A weight's rows are its layer's units: summed per layer as the units are.
        per_layer = torch.stack([norms.square(), (norms > 0).double()]) @ self.membership64  # [2, N, layers]
        cosine = _mean_cosine(torch.cat(summed, 1), per_layer[1], self.rows)
        return per_layer[0].sqrt().float(), cosine.float()

    def steps(self, after: Tensor, before: Tensor, alive: Tensor) -> Tensor:
        """Each member's and layer's ||after - before|| of flat weights [N, weights] (`after`
        is overwritten), [N, layers]."""
        return member_norms(torch.split(after.sub_(before), self.shape.weight_sizes, dim=1), alive)
