"""Every-step tracing of a group: each member's per-layer stats of its own training batch, in ops over the stack."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor

from annlab.net.stacked import StackedMLP
from annlab.record import STATS
from annlab.train.cosines import _mean_cosine
from annlab.train.distributions import Row
from annlab.train.probes import Probe, step_grads

_ROW = {name: STATS.index(name) for name in STATS}
Keep = list[tuple[Tensor, Tensor, Tensor]]


class Segments:
    """Sums over consecutive segments of a tensor's dimension (a layer's units, its weights, its
    rows): one view and one sum per run of segments of one length, so a plain MLP's layers cost
    two or three ops whatever its depth."""

    def __init__(self, lengths: Sequence[int]):
        self.runs: list[tuple[int, int, int]] = []  # (start, segments, length)
        start = 0
        for length, run in itertools.groupby(lengths):
            count = len(list(run))
            self.runs.append((start, count, length))
            start += count * length

    def sum(self, values: Tensor, dim: int = -1) -> Tensor:
        """[..., segments' lengths summed, ...] -> [..., segments, ...], summed along `dim`."""
        dim = dim % values.dim()
        parts = [
            values.narrow(dim, start, count * length).unflatten(dim, (count, length)).sum(dim + 1)
            for start, count, length in self.runs
        ]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim)


def float32_norms(tensors: Sequence[Tensor]) -> Tensor:
    """The Frobenius norm of each member's slice of each tensor, in float32: [N, tensors]."""
    return torch.stack([torch.linalg.vector_norm(t.flatten(1), dim=1) for t in tensors], 1)


def member_norms(tensors: Sequence[Tensor], alive: Tensor) -> Tensor:
    """The Frobenius norm of each member's slice of each tensor ([N, ...] each), [N, tensors].

    In float32, one reduction a tensor; where a live member's norm is outside float32's safe
    range (a sum of squares below 1e-30, where underflowed squares could matter: a deep sigmoid
    net's gradients are ~1e-25; or overflowing), that tensor again in float64, as Probe's norms
    always are: converting every gradient to float64 cost more than the rest of the stats."""
    out = float32_norms(tensors)
    live = out if len(alive) == len(out) else out.index_select(0, alive)
    unsafe = ~((live > 1e-15) & (live < 1e15)).all(0)
    if bool(unsafe.any()):
        for j in unsafe.nonzero().flatten().tolist():
            out[:, j] = torch.linalg.vector_norm(tensors[j].flatten(1), dim=1, dtype=torch.float64).float()
    return out


class StackedProbe:
    """probe=train for a StackedMLP: the stats of STATS of every member and layer, [N, stats,
    layers], from the group's own training step (its forward pass's z and a, and the gradients
    of one autograd call that also gives the optimiser its gradients), computed for all members
    at once. The members' Probes still give the layout (which layer a unit is of, saturation
    rules) and the distributions record, on each member's slice.

    The same statistics as Probe's, reduced in another order (sums over views rather than
    segment_reduce): they agree with a member's own Probe within float32 rounding (tested:
    1e-5 relative or 1e-7 absolute, counted fractions exactly)."""

    def __init__(self, stacked: StackedMLP, probes: Sequence[Probe]):
        self.stacked, self.probes = stacked, list(probes)
        first = probes[0]
        self.n_layers, self.n_units = first.n_layers, first.n_units
        widths = [layer.out_features for layer in first.model.layers()]
        self.units = Segments(widths)
        self.both = Segments(widths + widths)  # every z unit, then every a unit
        self.layer_of = first.layer_of
        self.count = first.columns[: self.n_layers].float()  # units a layer (the batch multiplies in)
        self.widths = first.widths
        self.params = [*stacked.weights, *stacked.biases]
        shapes = [tuple(w.shape[1:]) for w in stacked.weights]
        self.weight_sizes = [out * fan_in for out, fan_in in shapes]
        self._buffers: dict[tuple[int, int], tuple[Tensor, Tensor, Tensor]] = {}
        # Rows of the layers of one fan-in, consecutive in the flat weights: (fan-in, element
        # slice, rows a layer) per block, as WeightLayout's blocks.
        self.blocks: list[tuple[int, slice, Segments]] = []
        start = 0
        for fan_in, run in itertools.groupby(shapes, key=lambda shape: shape[1]):
            rows = [out for out, _ in run]
            self.blocks.append((fan_in, slice(start, start + sum(rows) * fan_in), Segments(rows)))
            start += sum(rows) * fan_in
        self.rows = torch.tensor([out for out, _ in shapes], dtype=torch.float64, device=first.widths.device)
        self.saturation = [(rule, units) for rule, _, units, _ in first.saturation]

    def flat_weights(self) -> Tensor:
        """Every member's weights, each layer's flattened, side by side: [N, weights]."""
        return torch.cat([w.detach().flatten(1) for w in self.stacked.weights], dim=1)

    def step(
        self, keep: Keep, loss: Tensor, grad_scale: float, alive: Tensor
    ) -> tuple[Tensor, Tensor, tuple[Tensor, ...]]:
        """One autograd call for the group's summed `loss`: it leaves every stacked parameter's
        .grad for the optimiser and gives the stats of the step, [N, stats, layers] (update_ratio
        waiting for `finish`), the flat weights before the update, and the z, hidden a and
        weight gradients (for the distributions record). `alive`: the members whose stats count."""
        layer_grads = step_grads(keep, loss, self.params)[: 3 * self.n_layers - 1]
        with torch.no_grad():
            before = self.flat_weights()
            return self._stats(keep, layer_grads, grad_scale, before, alive), before, layer_grads

    def _stats(self, keep: Keep, grads: Sequence[Tensor], grad_scale: float, flat: Tensor, alive: Tensor) -> Tensor:
        n, units = self.n_layers, self.n_units
        members, batch = keep[0][1].shape[:2]
        packed, count, degrees = self._batch(members, batch, flat.device)
        torch.cat([z for _, z, _ in keep] + [a for _, _, a in keep], dim=2, out=packed)
        examples = self._example_cosine(packed[..., :units])
        zeros = torch.zeros(members, n, device=packed.device)
        saturated = self._saturated(packed, count[:n]) if self.saturation else zeros
        # Two passes, as Probe's: sums, then squares centred on each unit's mean, in place.
        unit_sum = packed.sum(1)  # [N, 2 units]
        unit_mean = unit_sum / batch
        unit_sq = packed.sub_(unit_mean.unsqueeze(1)).square_().sum(1)
        means = self.both.sum(unit_sum) / count
        spread = unit_mean - means.index_select(1, self.layer_of)
        stds = (self.both.sum(unit_sq + batch * spread * spread) / degrees).sqrt()
        is_dead = (unit_sum[:, units:] == 0) & (unit_sq[:, units:] == 0)
        # Every gradient's and weight's norm in one pass; the output layer's dL/da is its dL/dz
        # (the loss takes the logits).
        norms = member_norms([*grads, *self.stacked.weights], alive)
        grad_z, grad_a = norms[:, :n] * grad_scale, norms[:, n : 2 * n - 1] * grad_scale
        rows = [
            means[:, :n],
            stds[:, :n],
            means[:, n:],
            stds[:, n:],
            grad_z,
            torch.cat([grad_a, grad_z[:, -1:]], 1),
            norms[:, 2 * n - 1 : 3 * n - 1],
            norms[:, 3 * n - 1 :],
            zeros,  # update_ratio: see finish
            saturated,
            self.units.sum(is_dead.float()) / self.widths,
            self._unit_cosine(flat.double()).float(),
            examples,
        ]
        return torch.stack(rows, 1)

    def _batch(self, members: int, batch: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        """The [N, batch, 2 units] matrix of every z and a, kept between steps (see
        Probe._batch), and each packed layer's number of values and degrees of freedom."""
        key = (members, batch)
        if key not in self._buffers:
            packed = torch.empty(members, batch, 2 * self.n_units, device=device)
            count = torch.cat([self.count, self.count]) * batch
            self._buffers[key] = (packed, count, (count - 1).clamp_min(1))
        return self._buffers[key]

    def _example_cosine(self, z: Tensor) -> Tensor:
        """Per member and layer, the mean pairwise cosine of the examples' z (see
        cosines.example_cosine), z [N, batch, units]: each run of layers of one width a view."""
        summed_sq, nonzero = [], []
        for start, count, width in self.units.runs:
            layers = z.narrow(2, start, count * width).unflatten(2, (count, width))  # [N, batch, layers, width]
            row_norm = torch.linalg.vector_norm(layers, dim=3, keepdim=True)
            inverse = row_norm.reciprocal().nan_to_num_(0.0, posinf=0.0)
            summed_sq.append(torch.linalg.vector_norm((layers * inverse).sum(1), dim=2).square())
            nonzero.append((row_norm > 0).sum(1, dtype=z.dtype).squeeze(2))
        rows = torch.tensor(float(z.shape[1]), device=z.device)
        return _mean_cosine(torch.cat(summed_sq, 1), torch.cat(nonzero, 1), rows)

    def _saturated(self, packed: Tensor, count: Tensor) -> Tensor:
        """Each member's and layer's share of saturated units x examples (the rules' booleans
        counted as bytes: a bool or float sum over the batch costs several times more here)."""
        hits = torch.zeros(packed.shape[0], self.n_units, device=packed.device)
        z, a = packed[..., : self.n_units], packed[..., self.n_units :]
        for rule, units in self.saturation:
            hits[:, units] = rule(z[..., units], a[..., units]).view(torch.uint8).sum(1, dtype=torch.int32).float()
        return self.units.sum(hits) / count

    def _unit_cosine(self, flat: Tensor) -> Tensor:
        """Per member and layer, the mean pairwise cosine of the weight rows, from the float64
        flat weights [N, weights] (see WeightLayout.unit_cosine)."""
        summed_sq, nonzero = [], []
        for fan_in, elements, rows in self.blocks:
            block = flat[:, elements].unflatten(1, (-1, fan_in))  # [N, rows, fan-in]
            norms = torch.linalg.vector_norm(block, dim=2, keepdim=True)
            unit = block / norms.clamp_min(torch.finfo(block.dtype).tiny)
            summed_sq.append(torch.linalg.vector_norm(rows.sum(unit, dim=1), dim=2).square())
            nonzero.append(rows.sum((norms.squeeze(2) > 0).double()))
        return _mean_cosine(torch.cat(summed_sq, 1), torch.cat(nonzero, 1), self.rows)

    def finish(self, values: Tensor, before: Tensor, alive: Tensor) -> Tensor:
        """Fill in every member's update_ratio = ||W_after - W_before|| / ||W_before||."""
        step = member_norms(self.weight_split(self.flat_weights() - before), alive)
        w_norm = values[:, _ROW["w_norm"]]
        values[:, _ROW["update_ratio"]] = torch.where(step == 0, 0.0, step / w_norm)
        return values

    def weight_split(self, flat: Tensor) -> tuple[Tensor, ...]:
        """Each layer's part of flat weights [N, weights] (views)."""
        return torch.split(flat, self.weight_sizes, dim=1)

    def distributions(self, i: int, step: int, keep: Keep, grads: Sequence[Tensor], scale: float) -> list[Row]:
        """Member i's distributions record of this step, from its slices."""
        mine = [(x[i], z[i], a[i]) for x, z, a in keep]
        return self.probes[i]._distributions(step, mine, [g[i] for g in grads], scale)
