"""Per-layer signals of an MLP on a fixed probe batch, computed in a few batched tensor ops."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from annlab.activations import SATURATED
from annlab.model import MLP

# The order of the rows of every stats tensor this module returns.
STATS: tuple[str, ...] = (
    "z_mean",
    "z_std",
    "a_mean",
    "a_std",
    "grad_z_norm",
    "grad_a_norm",
    "grad_w_norm",
    "w_norm",
    "update_ratio",
    "saturated_frac",
    "dead_frac",
    "unit_cosine",
)
_ROW = {name: i for i, name in enumerate(STATS)}
# The rows `Probe.measure` computes per group of same-shape layers, in this order.
_GROUP_ROWS = torch.tensor(
    [
        _ROW[k]
        for k in (
            "z_mean",
            "z_std",
            "a_mean",
            "a_std",
            "w_norm",
            "saturated_frac",
            "dead_frac",
            "unit_cosine",
        )
    ]
)

# What the output layer's a is called for the saturation rules: the task's output activation.
OUTPUT_ACTIVATION_NAMES = {"binary": "sigmoid", "multiclass": "softmax", "regression": "identity"}


def layer_key(layer: int, stat: str) -> str:
    """The MLflow metric key of `stat` at 1-based `layer`: `<stat>/layer_<LL>`."""
    return f"{stat}/layer_{layer:02d}"


@dataclass
class PendingStats:
    """Stats of one probe, waiting for the update the optimiser makes next."""

    values: Tensor  # [len(STATS), n_layers]; the update_ratio row is filled by `finish`
    weights_before: list[Tensor]  # stacked weights of each group, before the update


def _mean_std(x: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and sample std over all but the first dim of `x` [G, ...].

    Two plain passes (sum, then the norm of the centred values): torch.std_mean's Welford
    reduction is some 15x slower on CPU for these shapes.
    """
    flat = x.reshape(x.shape[0], -1)
    n = flat.shape[1]
    mean = flat.sum(1) / n
    std = torch.linalg.vector_norm(flat - mean.unsqueeze(1), dim=1) / max(n - 1, 1) ** 0.5
    return mean, std


def unit_cosine(w: Tensor) -> Tensor:
    """Mean pairwise cosine similarity of the rows of each matrix in `w` [G, n, m].

    Identical rows give 1.0 (symmetry never broken); two all-zero rows count as identical,
    so an all-zero layer reads 1.0 too. A layer with one unit has no pair and reads 1.0.
    """
    g, n, _ = w.shape
    if n < 2:
        return torch.ones(g, dtype=w.dtype)
    out_dtype = w.dtype
    # float64: rows that shrink towards zero (sigmoid nets from a zero init do) have float32
    # squares that underflow, which made a non-zero row look like a zero one.
    w = w.double()
    norms = torch.linalg.vector_norm(w, dim=2)
    unit = w / norms.clamp_min(torch.finfo(w.dtype).tiny).unsqueeze(2)
    sim = torch.bmm(unit, unit.transpose(1, 2))
    zero_rows = (norms == 0).sum(1).to(w.dtype)
    off_diagonal = sim.sum((1, 2)) - torch.diagonal(sim, dim1=1, dim2=2).sum(1)
    return ((off_diagonal + zero_rows * (zero_rows - 1)) / (n * (n - 1))).to(out_dtype)


class Probe:
    """Measures every stat of STATS for every layer of `model` on the batch (x, y).

    Gradients come from one `torch.autograd.grad` call over the kept z and a tensors, not
    from retain_grad hooks; layers of one shape and activation are stacked so that each stat
    costs one tensor op per group of layers rather than one per layer.
    """

    def __init__(self, model: MLP, x: Tensor, y: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor]):
        self.model, self.x, self.y, self.loss_fn = model, x, y, loss_fn
        layers = model.layers()
        names = [*model.activation_names, OUTPUT_ACTIVATION_NAMES[model.task]]
        groups: dict[tuple[object, ...], list[int]] = {}
        for i, (layer, name) in enumerate(zip(layers, names, strict=True)):
            groups.setdefault((tuple(layer.weight.shape), name), []).append(i)
        self.groups = [(key[1], idx) for key, idx in groups.items()]
        self.n_layers = len(layers)

    def _weights(self) -> list[Tensor]:
        layers = self.model.layers()
        return [torch.stack([layers[i].weight.detach() for i in idx]) for _, idx in self.groups]

    def measure(self) -> PendingStats:
        """All stats of the current state except update_ratio (see `finish`)."""
        keep: list[tuple[Tensor, Tensor, Tensor]] = []
        loss = self.loss_fn(self.model(self.x, keep=keep), self.y)
        zs = [z for _, z, _ in keep]
        hidden_as = [a for _, _, a in keep[:-1]]
        layers = self.model.layers()
        grads = torch.autograd.grad(loss, [*zs, *hidden_as, *(layer.weight for layer in layers)])
        n, h = len(zs), len(hidden_as)
        # The loss takes the logits, so the output layer's dL/da is taken there: = dL/dz.
        grad_z, grad_a, grad_w = grads[:n], [*grads[n : n + h], grads[n - 1]], grads[n + h :]
        # One fused call per gradient kind (torch._foreach_norm, as clip_grad_norm_ uses) instead
        # of stacking copies of every layer's gradient.
        norms = {
            "grad_z_norm": torch.stack(torch._foreach_norm(grad_z)),
            "grad_a_norm": torch.stack(torch._foreach_norm(grad_a)),
            "grad_w_norm": torch.stack(torch._foreach_norm(grad_w)),
        }
        values = torch.zeros(len(STATS), self.n_layers)
        for name, row in norms.items():
            values[_ROW[name]] = row
        weights = self._weights()
        for (name, idx), w in zip(self.groups, weights, strict=True):
            z = torch.stack([keep[i][1].detach() for i in idx])
            a = torch.stack([keep[i][2].detach() for i in idx])
            z_mean, z_std = _mean_std(z)
            a_mean, a_std = _mean_std(a)
            w_norm = torch.linalg.vector_norm(w, dim=(1, 2))
            rule = SATURATED.get(name)
            saturated = rule(a).mean((1, 2), dtype=a.dtype) if rule else torch.zeros_like(w_norm)
            rows = [
                z_mean,
                z_std,
                a_mean,
                a_std,
                w_norm,
                saturated,
                (a.abs().amax(dim=1) == 0).mean(1, dtype=a.dtype),
                unit_cosine(w),
            ]
            values[_GROUP_ROWS.unsqueeze(1), torch.tensor(idx).unsqueeze(0)] = torch.stack(rows)
        return PendingStats(values, weights)

    def finish(self, pending: PendingStats) -> Tensor:
        """Fill in update_ratio = ||W_after - W_before|| / ||W_before|| and return the stats."""
        values = pending.values
        for (_, idx), before, after in zip(self.groups, pending.weights_before, self._weights(), strict=True):
            step = torch.linalg.vector_norm(after - before, dim=(1, 2))
            # An all-zero W has no relative scale: a zero step reads 0, any other step inf.
            values[_ROW["update_ratio"], idx] = torch.where(
                step == 0, torch.zeros_like(step), step / values[_ROW["w_norm"], idx]
            )
        return values
