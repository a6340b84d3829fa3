"""Every-step tracing of a group: each member's per-layer stats of its own training batch, in ops over the stack."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from annlab.net.activations import SATURATION_BANDS
from annlab.net.stacked import StackedMLP
from annlab.record import STATS
from annlab.train import stacked_reductions as reductions
from annlab.train.distributions import Row
from annlab.train.probes import Probe, step_grads
from annlab.train.stacked_reductions import Keep, Rule, StackShape, TensorReductions

if TYPE_CHECKING:
    from annlab.train.fused import FusedReductions

_ROW = {name: STATS.index(name) for name in STATS}


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
    exactly). The per-layer reductions of z, a and the weights come from one compiled pass each
    on the CPU (fused.FusedReductions), and from tensor ops on a GPU or where a user's rule
    reads saturation from z (stacked_reductions.TensorReductions)."""

    def __init__(self, stacked: StackedMLP, probes: Sequence[Probe]):
        self.stacked, self.probes = stacked, list(probes)
        first = probes[0]
        self.n_layers = first.n_layers
        self.params = [*stacked.weights, *stacked.biases]
        device = first.widths.device
        # Each layer's saturation: a built-in activation's band on a, a user's rule on z, or none.
        names = [*first.model.activation_names, first.model.output_activation_name]
        saturation: list[Rule] = [None] * self.n_layers
        for rule, layers, _, _ in first.saturation:
            for i in range(layers.start, layers.stop):
                saturation[i] = SATURATION_BANDS.get(names[i], rule)
        members = stacked.weights[0].shape[0]
        shapes = [(int(w.shape[1]), int(w.shape[2])) for w in stacked.weights]
        self.shape = StackShape(members, first.widths, shapes, saturation)
        self.reductions: TensorReductions | FusedReductions
        if device.type == "cpu" and not any(callable(rule) for rule in saturation):
            from annlab.train import fused  # numba: imported only where a group is traced on the CPU

            self.reductions = fused.FusedReductions(self.shape)
        else:
            self.reductions = TensorReductions(self.shape)
        # The flat weights before and after each update, kept between steps (fresh ones would
        # fault their pages in every step).
        flat_shape = (members, sum(self.shape.weight_sizes))
        self._before, self._after = torch.empty(flat_shape, device=device), torch.empty(flat_shape, device=device)

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
            norms = torch.cat([caught_norm, reductions.float32_norms(grads[:n])], 1)
            stats = self._stats(keep, reductions.member_norms(layer_grads, alive, norms), grad_scale, before)
            return stats, before, layer_grads

    def _stats(self, keep: Keep, norms: Tensor, grad_scale: float, flat: Tensor) -> Tensor:
        """The stats of the step from its z and a, every gradient's norm ([N, z, hidden a and
        weight gradients]) and the flat weights before the update."""
        n = self.n_layers
        z_mean, z_std, a_mean, a_std, saturated, dead, examples = self.reductions.layers(keep, keep[0][1].shape[1])
        w_norm, unit_cosine = self.reductions.weights(flat)
        rows = [
            z_mean,
            z_std,
            a_mean,
            a_std,
            norms[:, :n] * grad_scale,
            torch.cat([norms[:, n : 2 * n - 1], norms[:, n - 1 : n]], 1) * grad_scale,
            norms[:, 2 * n - 1 :],
            w_norm,
            torch.zeros_like(z_mean),  # update_ratio: see finish
            saturated,
            dead,
            unit_cosine,
            examples,
        ]
        return torch.stack(rows, 1)

    def finish(self, values: Tensor, before: Tensor, alive: Tensor) -> Tensor:
        """Fill in every member's update_ratio = ||W_after - W_before|| / ||W_before||."""
        step = self.reductions.steps(self.flat_weights(self._after), before, alive)
        w_norm = values[:, _ROW["w_norm"]]
        values[:, _ROW["update_ratio"]] = torch.where(step == 0, 0.0, step / w_norm)
        return values

    def distributions(self, i: int, step: int, keep: Keep, grads: Sequence[Tensor], scale: float) -> list[Row]:
        """Member i's distributions record of this step, from its slices."""
        mine = [(x[i], z[i], a[i]) for x, z, a in keep]
        return self.probes[i]._distributions(step, mine, [g[i] for g in grads], scale)
