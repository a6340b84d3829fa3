"""Per-layer signals of an MLP on a fixed probe batch, computed in a few packed tensor ops."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from annlab.net.activations import SATURATED, SATURATED_Z
from annlab.net.model import MLP
from annlab.record import ACTIVATION_PARAM_STATS, STATS
from annlab.train.cosines import WeightLayout, as_lengths, example_cosine, norms, segment_offsets, segment_sum
from annlab.train.distributions import Distributions, Row

_UPDATE_RATIO = STATS.index("update_ratio")


@dataclass
class _BatchShape:
    """What the stats of a batch of one size reuse: the packed value matrix, each packed layer's
    number of values and that less one (at least 1), the degrees of freedom of its spread."""

    packed: Tensor
    count: Tensor
    degrees: Tensor


@dataclass
class PendingStats:
    """Stats of one probe, waiting for the update the optimiser makes next."""

    values: Tensor  # [len(STATS), n_layers]; the update_ratio row is filled by `finish`
    weights_before: Tensor  # every layer's weight, flattened and concatenated, before the update
    distributions: list[Row] | None = None  # the distributions record's rows, at the steps that record them


def step_grads(
    keep: Sequence[tuple[Tensor, Tensor, Tensor]], loss: Tensor, params: Sequence[Tensor]
) -> tuple[Tensor, ...]:
    """The gradients of a training step's `loss` with respect to every kept z, every hidden a
    and every parameter, in that order, from one autograd call; each parameter's is also left
    in its .grad for the optimiser (as loss.backward() would)."""
    zs = [z for _, z, _ in keep]
    hidden_as = [a for _, _, a in keep[:-1]]
    grads = torch.autograd.grad(loss, [*zs, *hidden_as, *params])
    for param, grad in zip(params, grads[len(zs) + len(hidden_as) :], strict=True):
        param.grad = grad
    return grads


class Probe:
    """Measures every stat of STATS for every layer of `model` on the batch (x, y).

    Gradients come from one `torch.autograd.grad` call over the kept z and a tensors, not
    from retain_grad hooks. Every layer's z and a are packed side by side into one
    [batch, units] matrix and every weight into one vector, so that each stat costs a few
    tensor ops for the whole network rather than a few per layer: the model's size, not its
    depth, sets the cost.
    """

    def __init__(self, model: MLP, x: Tensor, y: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor]):
        self.model, self.x, self.y, self.loss_fn = model, x, y, loss_fn
        layers = model.layers()
        self.n_layers = len(layers)
        # The optimisers update these in place, so the list (and the flat views, which share
        # their storage) stays valid for the whole run.
        self.layer_weights = [layer.weight for layer in layers]
        self._weight_views = [layer.weight.detach().view(-1) for layer in layers]
        widths = [layer.out_features for layer in layers]
        self.weights = WeightLayout([tuple(layer.weight.shape) for layer in layers])
        # The packed [batch, units of every z, then units of every a] matrix, per layer.
        columns = as_lengths(widths + widths)
        self.by_layer = segment_offsets(columns)
        self.layer_of = torch.repeat_interleave(torch.arange(len(columns)), columns)
        self.n_units = sum(widths)
        self.columns = columns
        self.layer_offsets = self.by_layer[: self.n_layers + 1]  # of the z part, or of the a part alone
        # [units, layers]: which layer each z column is of (example_cosine's per-layer sums as products)
        self.membership = torch.nn.functional.one_hot(self.layer_of[: self.n_units], self.n_layers).float()
        self._batches: dict[int, _BatchShape] = {}
        self.widths = torch.tensor(widths, dtype=torch.float32)
        # probe.batch=train: the gradients of every parameter come from the same autograd call,
        # for the optimiser; where each layer's weight is among them.
        self.params = list(model.parameters())
        position = {id(p): i for i, p in enumerate(self.params)}
        self.weight_positions = [position[id(w)] for w in self.layer_weights]
        # Hidden activations that learn parameters (PReLU): their min / mean / max are extra rows.
        self.learned = [(i, list(act.parameters())) for i, act in enumerate(model.acts) if list(act.parameters())]
        self.distributions = Distributions([*model.activation_names, model.output_activation_name])
        # Runs of consecutive layers whose activation has the same saturation rule: one op each.
        # A user's bounded activation is read from z by its own module (its own parameters): a run of one.
        names = [*model.activation_names, model.output_activation_name]
        keys = [(n, i) if n in SATURATED_Z else (n, -1) for i, n in enumerate(names)]
        self.saturation: list[tuple[Callable[[Tensor, Tensor], Tensor], slice, slice, Tensor]] = []
        for (name, _), run in itertools.groupby(range(self.n_layers), key=keys.__getitem__):
            first, last = (idx := list(run))[0], idx[-1] + 1
            rule: Callable[[Tensor, Tensor], Tensor] | None = None
            if name in SATURATED:
                rule = lambda z, a, on_a=SATURATED[name]: on_a(a)  # noqa: E731
            elif name in SATURATED_Z:
                rule = lambda z, a, on_z=SATURATED_Z[name], act=model.acts[first]: on_z(act, z)  # noqa: E731
            if rule is not None:
                start, stop = int(self.by_layer[first]), int(self.by_layer[last])
                offsets = self.by_layer[first : last + 1] - start
                self.saturation.append((rule, slice(first, last), slice(start, stop), offsets))
        self._to(x.device)

    def _to(self, device: torch.device) -> None:
        """Every constant of the layout on the probe batch's device (segment_reduce, indexing and
        the stats' stack take their tensors on one device)."""
        if device.type == "cpu":
            return
        self.by_layer, self.layer_of = self.by_layer.to(device), self.layer_of.to(device)
        self.columns = self.columns.to(device)
        self.layer_offsets = self.by_layer[: self.n_layers + 1]
        self.membership, self.widths = self.membership.to(device), self.widths.to(device)
        self.saturation = [(rule, run, units, offsets.to(device)) for rule, run, units, offsets in self.saturation]
        self.weights.to(device)

    def _saturated(self, z: Tensor, a: Tensor, count: Tensor) -> Tensor:
        """Each layer's share of saturated units x examples (0 where its activation has no rule)."""
        saturated = torch.zeros(self.n_layers, device=z.device)
        for rule, layers, units, offsets in self.saturation:
            hits = rule(z[:, units], a[:, units]).sum(0, dtype=a.dtype)
            saturated[layers] = segment_sum(hits, offsets) / count[layers]
        return saturated

    def _flat_weights(self) -> Tensor:
        return torch.cat(self._weight_views)

    def forward_backward(self) -> tuple[list[tuple[Tensor, Tensor, Tensor]], tuple[Tensor, ...]]:
        """The probe batch's (input, z, a) per layer and the loss's gradients with respect to
        every z, every hidden a and every weight, in that order."""
        keep: list[tuple[Tensor, Tensor, Tensor]] = []
        loss = self.loss_fn(self.model(self.x, keep=keep), self.y)
        zs = [z for _, z, _ in keep]
        hidden_as = [a for _, _, a in keep[:-1]]
        return keep, torch.autograd.grad(loss, [*zs, *hidden_as, *self.layer_weights])

    def measure(self, distributions_at: int | None = None) -> PendingStats:
        """All stats of the current state except update_ratio (see `finish`); with
        `distributions_at` (the step), the distributions record's rows too."""
        keep, grads = self.forward_backward()
        with torch.no_grad():
            pending = self._stats(keep, grads)
            if distributions_at is not None:
                pending.distributions = self._distributions(distributions_at, keep, grads, 1.0)
            return pending

    def _distributions(self, step: int, keep: list, grads: Sequence[Tensor], grad_z_scale: float) -> list[Row]:
        n = self.n_layers
        return self.distributions.rows(step, keep, grads[:n], grads[2 * n - 1 :], grad_z_scale)

    def measure_step(
        self,
        keep: list[tuple[Tensor, Tensor, Tensor]],
        loss: Tensor,
        grad_scale: float,
        distributions_at: int | None = None,
    ) -> PendingStats:
        """probe.batch=train: the stats of the training step whose forward pass kept `keep` and
        gave `loss`, from one autograd call that also leaves every parameter's .grad for the
        optimiser (as loss.backward() would). `grad_scale` multiplies the z and a gradient
        norms (a shorter last batch's, rescaled to a full batch's: see the loop); the
        distributions' dL/dz values are rescaled by its square (each example's share of the
        mean loss is 1/rows)."""
        n = self.n_layers
        grads = step_grads(keep, loss, self.params)
        weight_grads = [grads[2 * n - 1 + i] for i in self.weight_positions]
        layer_grads = [*grads[: 2 * n - 1], *weight_grads]
        with torch.no_grad():
            pending = self._stats(keep, layer_grads)
            if grad_scale != 1.0:
                pending.values[STATS.index("grad_z_norm") : STATS.index("grad_a_norm") + 1] *= grad_scale
            if distributions_at is not None:
                pending.distributions = self._distributions(distributions_at, keep, layer_grads, grad_scale**2)
            return pending

    def _batch(self, batch: int, device: torch.device) -> _BatchShape:
        """The packed matrix and counts for a batch of this size, kept between probes: a fresh
        matrix costs more in page faults than all the arithmetic on it."""
        if batch not in self._batches:
            count = (self.columns * batch).float()
            packed = torch.empty(batch, 2 * self.n_units, device=device)
            self._batches[batch] = _BatchShape(packed, count, (count - 1).clamp_min(1))
        return self._batches[batch]

    def _stats(self, keep: list[tuple[Tensor, Tensor, Tensor]], grads: Sequence[Tensor]) -> PendingStats:
        n, batch = self.n_layers, keep[0][1].shape[0]
        shape = self._batch(batch, keep[0][1].device)
        count = shape.count
        # Gradient norms straight from each layer's gradient; the output layer's dL/da is dL/dz
        # (the loss takes the logits).
        grad_norms = norms([*grads[: 2 * n - 1], grads[n - 1]])
        # Every layer's z and a side by side, one column per unit: [batch, 2 * units].
        packed = torch.cat([z for _, z, _ in keep] + [a for _, _, a in keep], dim=1, out=shape.packed)
        examples = example_cosine(packed[:, : self.n_units], self.membership)

        saturated = self._saturated(packed[:, : self.n_units], packed[:, self.n_units :], count)
        # Two passes (sums, then squares centred on each unit's mean, in place): Welford's
        # torch.var_mean is several times slower on CPU for these shapes, and one pass of raw
        # squares cancels badly for units far from zero with a small spread (sigmoid's a).
        unit_sum = packed.sum(0)
        unit_mean = unit_sum / batch
        unit_sq = packed.sub_(unit_mean).square_().sum(0)
        means = segment_sum(unit_sum, self.by_layer) / count
        spread = unit_mean - means.index_select(0, self.layer_of)
        stds = (segment_sum(unit_sq + batch * spread * spread, self.by_layer) / shape.degrees).sqrt()
        # A dead unit's a is 0 on every example: its sum and its centred squares are both 0.
        is_dead = (unit_sum[self.n_units :] == 0) & (unit_sq[self.n_units :] == 0)
        dead = segment_sum(is_dead.float(), self.layer_offsets) / self.widths

        flat = self._flat_weights()
        w_norm = norms(self.layer_weights)
        values = torch.stack(
            [
                means[:n],
                stds[:n],
                means[n:],
                stds[n:],
                grad_norms[:n],
                grad_norms[n:],
                norms(grads[2 * n - 1 :]),
                w_norm,
                torch.zeros(n, device=flat.device),  # update_ratio: see finish
                saturated,
                dead,
                self.weights.unit_cosine(flat),
                examples,
            ]
        )
        if self.learned:
            values = torch.cat([values, self._learned_stats(n)])
        return PendingStats(values, flat)

    def _learned_stats(self, n: int) -> Tensor:
        """[min, mean, max] of each hidden layer's learned activation parameters; NaN for a layer
        whose activation learns none (and for the output layer)."""
        out = torch.full((len(ACTIVATION_PARAM_STATS), n), float("nan"), device=self.widths.device)
        for i, params in self.learned:
            flat = torch.cat([p.detach().reshape(-1) for p in params]).float()
            out[:, i] = torch.stack([flat.min(), flat.mean(), flat.max()])
        return out

    def finish(self, pending: PendingStats) -> Tensor:
        """Fill in update_ratio = ||W_after - W_before|| / ||W_before|| and return the stats."""
        values = pending.values
        step = norms(self.weights.split(self._flat_weights() - pending.weights_before))
        # An all-zero W has no relative scale: a zero step reads 0, any other step inf.
        w_norm = values[STATS.index("w_norm")]
        values[_UPDATE_RATIO] = torch.where(step == 0, 0.0, step / w_norm)
        return values
