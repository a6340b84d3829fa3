"""Every-step tracing of a group: each member's per-layer stats of its own training batch, in ops over the stack."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from annlab.net.activations import SATURATION_BANDS
from annlab.net.stacked import StackedMLP
from annlab.record import STATS
from annlab.train.cosines import _mean_cosine
from annlab.train.distributions import Row
from annlab.train.probes import Probe, step_grads

_ROW = {name: STATS.index(name) for name in STATS}
Keep = list[tuple[Tensor, Tensor, Tensor]]


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


def _catch(j: int, grads: list[Tensor | None], norms: list[Tensor | None], grad: Tensor) -> None:
    """A backward hook: keep the j-th caught gradient and each member's float32 norm of it."""
    grads[j], norms[j] = grad, torch.linalg.vector_norm(grad.flatten(1), dim=1)


class StackedProbe:
    """probe=train for a StackedMLP: the stats of STATS of every member and layer, [N, stats,
    layers], from the group's own training step (its forward pass's z and a, and the gradients
    of one autograd call that also gives the optimiser its gradients), computed for all members
    at once. The members' Probes still give the layout (which layer a unit is of, saturation
    rules) and the distributions record, on each member's slice.

    The same statistics as Probe's, reduced in another order: they agree with a member's own
    Probe within float32 rounding (tested: 1e-5 relative or 1e-7 absolute, counted fractions
    exactly). Each layer's z and a ([N, batch, width]) are reduced where the forward pass left
    them, a few ops each, and only per-layer sums (and each unit's largest |a|) are gathered:
    packing every layer into one [N, batch, 2 units] matrix first (Probe's way, a few ops for
    any depth) cost nearly twice as much here, as the pack outgrew the core's cache and every
    pass over it went to memory."""

    def __init__(self, stacked: StackedMLP, probes: Sequence[Probe]):
        self.stacked, self.probes = stacked, list(probes)
        first = probes[0]
        self.n_layers, self.n_units = first.n_layers, first.n_units
        self.widths = first.widths
        device = first.widths.device
        self.membership64 = first.membership.double()  # [units, layers]: which layer a unit is of
        self.layer_widths = [layer.out_features for layer in first.model.layers()]
        self.params = [*stacked.weights, *stacked.biases]
        self._rows: dict[int, Tensor] = {}
        shapes = [tuple(w.shape[1:]) for w in stacked.weights]
        self.weight_sizes = [out * fan_in for out, fan_in in shapes]
        # The flat weights before and after each update, and before in float64, kept between
        # steps (fresh ones would fault their pages in every step).
        weights = stacked.weights[0]
        flat_shape = (weights.shape[0], sum(self.weight_sizes))
        self._before, self._after = torch.empty(flat_shape, device=device), torch.empty(flat_shape, device=device)
        self._before64 = torch.empty(flat_shape, dtype=torch.float64, device=device)
        # Rows of the layers of one fan-in, consecutive in the flat weights: (fan-in, element
        # slice, rows a layer) per block, as WeightLayout's blocks.
        self.blocks: list[tuple[int, slice, list[int]]] = []
        start = 0
        for fan_in, run in itertools.groupby(shapes, key=lambda shape: shape[1]):
            rows = [out for out, _ in run]
            self.blocks.append((fan_in, slice(start, start + sum(rows) * fan_in), rows))
            start += sum(rows) * fan_in
        rows = [out for out, _ in shapes]
        self.rows = torch.tensor(rows, dtype=torch.float64, device=device)
        layer_of_row = torch.repeat_interleave(torch.arange(self.n_layers), torch.tensor(rows))
        self.row_membership = torch.nn.functional.one_hot(layer_of_row, self.n_layers).double().to(device)
        # Each layer's saturation: a built-in activation's band (centre, half-width) on a; a
        # user's bounded activation's rule (on z, by its own module); None for the rest.
        names = [*first.model.activation_names, first.model.output_activation_name]
        self.saturation: list[tuple[float, float] | Callable[[Tensor, Tensor], Tensor] | None] = [None] * self.n_layers
        for rule, layers, _, _ in first.saturation:
            for i in range(layers.start, layers.stop):
                self.saturation[i] = SATURATION_BANDS.get(names[i], rule)

    def flat_weights(self, out: Tensor) -> Tensor:
        """Every member's weights, each layer's flattened, side by side in `out`: [N, weights]."""
        return torch.cat([w.detach().flatten(1) for w in self.stacked.weights], dim=1, out=out)

    def step(
        self, keep: Keep, loss: Tensor, grad_scale: float, alive: Tensor
    ) -> tuple[Tensor, Tensor, tuple[Tensor, ...]]:
        """One autograd call for the group's summed `loss`: it leaves every stacked parameter's
        .grad for the optimiser and gives the stats of the step, [N, stats, layers] (update_ratio
        waiting for `finish`), the flat weights before the update, and the z, hidden a and
        weight gradients (for the distributions record). `alive`: the members whose stats count.

        The z and a gradients are caught by hooks as the backward pass makes them, and their
        norms taken there (autograd.grad, asked for them as outputs, copied the hidden a's)."""
        n = self.n_layers
        caught: list[Tensor | None] = [None] * (2 * n - 1)
        caught_norms: list[Tensor | None] = [None] * (2 * n - 1)
        for j, t in enumerate([z for _, z, _ in keep] + [a for _, _, a in keep[:-1]]):
            t.register_hook(functools.partial(_catch, j, caught, caught_norms))
        grads = step_grads([], loss, self.params)
        if any(g is None for g in caught):
            raise RuntimeError("the backward pass did not reach every layer's z and a")
        layer_grads = (*[g for g in caught if g is not None], *grads[:n])
        with torch.no_grad():
            before = self.flat_weights(self._before)
            caught_norm = torch.stack([m for m in caught_norms if m is not None], 1)
            norms = torch.cat([caught_norm, float32_norms(grads[:n])], 1)
            stats = self._stats(keep, member_norms(layer_grads, alive, norms), grad_scale, before)
            return stats, before, layer_grads

    def _stats(self, keep: Keep, norms: Tensor, grad_scale: float, flat: Tensor) -> Tensor:
        """The stats of the step from its z and a, every gradient's norm ([N, z, hidden a and
        weight gradients]) and the flat weights before the update."""
        n = self.n_layers
        batch = keep[0][1].shape[1]
        count = self.widths * batch  # values a layer
        # Per layer: the sum of its z and of its a, their squares centred on that mean (two
        # passes, as Probe's), the largest |a| of each unit (0: dead), the saturated count and
        # the example cosine's parts. Each [N, layers] once stacked.
        z_sum, z_sq, a_sum, a_sq, a_max, hits, summed, nonzero = ([] for _ in range(8))
        for (_, z, a), rule, width in zip(keep, self.saturation, self.layer_widths, strict=True):
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
        z_mean, a_mean = torch.cat(z_sum, 1).squeeze(2) / count, torch.cat(a_sum, 1).squeeze(2) / count
        degrees = (count - 1).clamp_min(1).sqrt()
        w_norm, unit_cosine = self._weights(self._before64.copy_(flat))
        rows = [
            z_mean,
            torch.stack(z_sq, 1) / degrees,
            a_mean,
            torch.stack(a_sq, 1) / degrees,
            norms[:, :n] * grad_scale,
            torch.cat([norms[:, n : 2 * n - 1], norms[:, n - 1 : n]], 1) * grad_scale,
            norms[:, 2 * n - 1 :],
            w_norm,
            torch.zeros_like(z_mean),  # update_ratio: see finish
            (torch.stack(hits, 1) / count).float(),
            self._dead(a_max),
            unit_cosine,
            _mean_cosine(torch.stack(summed, 1).square(), torch.stack(nonzero, 1), self.batch_rows(batch)),
        ]
        return torch.stack(rows, 1)

    def batch_rows(self, batch: int) -> Tensor:
        """The batch's size as a tensor on the probe's device (_mean_cosine's rows), kept."""
        if batch not in self._rows:
            self._rows[batch] = torch.tensor(float(batch), device=self.widths.device)
        return self._rows[batch]

    def _saturated(self, z: Tensor, a: Tensor, rule: object) -> tuple[Tensor, Tensor]:
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
        flags = rule(z, a)  # type: ignore[operator]
        return flags.sum(1, dtype=torch.float32).sum(1, dtype=torch.float64), biggest

    def _dead(self, a_max: list[Tensor]) -> Tensor:
        """Each layer's share of dead units: units whose a is 0 on every example."""
        is_dead = torch.cat(a_max, 1) == 0  # [N, units]
        return (is_dead.double() @ self.membership64).float() / self.widths

    def _weights(self, flat: Tensor) -> tuple[Tensor, Tensor]:
        """Per member and layer, the weight's norm and the mean pairwise cosine of its rows (see
        WeightLayout.unit_cosine), from the float64 flat weights [N, weights]: each block's rows'
        norms in one reduction, each layer's sum of unit rows in one batched product (of strided
        views: no copy)."""
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
        per_layer = torch.stack([norms.square(), (norms > 0).double()]) @ self.row_membership  # [2, N, layers]
        cosine = _mean_cosine(torch.cat(summed, 1), per_layer[1], self.rows)
        return per_layer[0].sqrt().float(), cosine.float()

    def finish(self, values: Tensor, before: Tensor, alive: Tensor) -> Tensor:
        """Fill in every member's update_ratio = ||W_after - W_before|| / ||W_before||."""
        step = member_norms(self.weight_split(self.flat_weights(self._after).sub_(before)), alive)
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
