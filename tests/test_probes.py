"""Probe values against an independent retain_grad computation on a hand-built 2-layer net."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from annlab.config import init, layer
from annlab.net.model import MLP
from annlab.record import STATS, layer_key
from annlab.train.cosines import example_cosine, unit_cosine
from annlab.train.probes import Probe


def two_layer_net(activation: str, width: int = 5, n_in: int = 3, n_out: int = 3) -> MLP:
    torch.manual_seed(1)
    return MLP(
        n_in,
        [layer(width, activation, "xavier_normal")],
        n_out,
        "multiclass",
        init("pytorch"),
    )


def reference_stats(
    model: MLP, x: torch.Tensor, y: torch.Tensor, lr: float, loss_fn=F.cross_entropy
) -> dict[str, list[float]]:
    """The stats by their definitions, with retain_grad and plain loops: no code shared with Probe."""
    params = [
        (layer.weight.detach().clone().requires_grad_(), layer.bias.detach().clone().requires_grad_())
        for layer in model.layers()
    ]
    zs, acts, h = [], [], x
    for i, (w, b) in enumerate(params):
        z = h @ w.T + b
        z.retain_grad()
        zs.append(z)
        if i < model.depth:
            h = model.acts[i](z)
            h.retain_grad()
            acts.append(h)
    loss_fn(zs[-1], y).backward()
    out = {"binary": torch.sigmoid, "multiclass": lambda z: torch.softmax(z, dim=-1), "regression": lambda z: z}
    acts.append(out[model.task](zs[-1]))
    names = [*model.activation_names, {"binary": "sigmoid"}.get(model.task, "none")]

    def cosine(w: torch.Tensor) -> float:
        pairs = list(itertools.combinations(range(w.shape[0]), 2))
        if not pairs:
            return 1.0
        zero = [not bool(row.any()) for row in w]  # two all-zero rows count as identical
        return sum(
            1.0 if zero[i] and zero[j] else F.cosine_similarity(w[i], w[j], dim=0).item() for i, j in pairs
        ) / len(pairs)

    def dead(a: torch.Tensor) -> float:
        return sum(bool((a[:, u] == 0).all()) for u in range(a.shape[1])) / a.shape[1]

    def sat(a: torch.Tensor, name: str) -> float:
        # derivative below 5% of its peak: tanh' = 1 - a^2 (peak 1), sigmoid' = a(1 - a) (peak 1/4)
        derivative = {"tanh": lambda: 1 - a * a, "sigmoid": lambda: a * (1 - a) * 4}
        return (derivative[name]() < 0.05).double().mean().item() if name in derivative else 0.0

    stats: dict[str, list[float]] = {s: [] for s in STATS}
    for i, ((w, _), z, a, name) in enumerate(zip(params, zs, acts, names, strict=True)):
        a = a.detach()
        grad_a = acts[i].grad if i < model.depth else z.grad  # the loss takes the logits
        stats["z_mean"].append(z.mean().item())
        stats["z_std"].append(z.std().item())
        stats["a_mean"].append(a.mean().item())
        stats["a_std"].append(a.std().item())
        stats["grad_z_norm"].append(z.grad.norm().item())
        stats["grad_a_norm"].append(grad_a.norm().item())
        stats["grad_w_norm"].append(w.grad.norm().item())
        stats["w_norm"].append(w.norm().item())
        step = lr * w.grad.norm().item()  # SGD on this batch; an all-zero W: 0 if it stays, else inf
        stats["update_ratio"].append(step / w.norm().item() if w.norm() > 0 else (0.0 if step == 0 else math.inf))
        stats["saturated_frac"].append(sat(a, name))
        stats["dead_frac"].append(dead(a))
        stats["unit_cosine"].append(cosine(w.detach()))
        stats["example_cosine"].append(numpy_example_cosine(z.detach().double().numpy()))
    return stats


def numpy_example_cosine(z: np.ndarray) -> float:
    """Mean pairwise cosine of the rows of z, with numpy: every pair, all-zero pairs count as 1."""
    norms = np.linalg.norm(z, axis=1)
    total, pairs = 0.0, list(itertools.combinations(range(len(z)), 2))
    for i, j in pairs:
        both_zero = norms[i] == 0 and norms[j] == 0
        total += 1.0 if both_zero else (0.0 if 0 in (norms[i], norms[j]) else z[i] @ z[j] / (norms[i] * norms[j]))
    return total / len(pairs) if pairs else 1.0


def assert_probe_matches(model: MLP, x: torch.Tensor, y: torch.Tensor, loss_fn=F.cross_entropy) -> torch.Tensor:
    lr = 0.1
    expected = reference_stats(model, x, y, lr, loss_fn)
    probe = Probe(model, x, y, loss_fn)
    pending = probe.measure()
    # One SGD step on the probe batch itself, so that update_ratio has a closed form.
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    opt.zero_grad()
    loss_fn(model(x), y).backward()
    opt.step()
    values = probe.finish(pending)
    for i, stat in enumerate(STATS):
        torch.testing.assert_close(
            values[i].double(),
            torch.tensor(expected[stat], dtype=torch.float64),
            rtol=1e-4,
            atol=1e-6,
            msg=lambda m, s=stat: f"{s}: {m}",
        )
    return values


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_probe_matches_the_definitions(activation: str) -> None:
    model = two_layer_net(activation)
    with torch.no_grad():  # some dead units and some saturated ones, so those stats are not all 0
        model.linears[0].bias[:2] = -50.0 if activation == "relu" else 8.0
    x, y = torch.randn(64, 3, generator=torch.Generator().manual_seed(2)), torch.arange(64) % 3
    values = assert_probe_matches(model, x, y)
    if activation == "relu":
        assert values[STATS.index("dead_frac"), 0] == pytest.approx(0.4)
    if activation != "relu":
        assert values[STATS.index("saturated_frac"), 0] > 0.1


def test_layers_of_any_width_activation_and_fan_in_are_measured_apart() -> None:
    """The packed layout: widths, fan-ins and saturation rules change from layer to layer."""
    torch.manual_seed(0)
    hidden = [
        layer(8, "relu", "kaiming_normal"),
        layer(8, "sigmoid", "normal", {"std": 3.0}),
        layer(8, "sigmoid", "xavier_normal"),
        layer(5, "tanh", "normal", {"std": 2.0}),
        layer(1, "tanh", "xavier_normal"),
        layer(6, "relu", "zeros"),
    ]
    model = MLP(3, hidden, 1, "binary", init("pytorch"))
    with torch.no_grad():
        model.linears[0].bias[:3] = -50.0  # three dead units of eight
    x = torch.randn(40, 3, generator=torch.Generator().manual_seed(3))
    y = (x[:, :1] > 0).float()
    values = assert_probe_matches(model, x, y, F.binary_cross_entropy_with_logits)
    assert values.shape == (len(STATS), 7)
    row = {name: values[STATS.index(name)].tolist() for name in ("dead_frac", "saturated_frac", "unit_cosine")}
    assert row["dead_frac"][0] == pytest.approx(3 / 8) and row["dead_frac"][-2] == 1.0  # zero init: all dead
    assert row["saturated_frac"][0] == 0 and min(row["saturated_frac"][1], row["saturated_frac"][3]) > 0.1
    assert row["unit_cosine"][4] == 1.0 and row["unit_cosine"][5] == pytest.approx(1.0)  # one unit; all-zero


def test_output_layer_grad_a_is_taken_at_the_logits() -> None:
    model = two_layer_net("tanh")
    x, y = torch.randn(32, 3), torch.arange(32) % 3
    values = Probe(model, x, y, F.cross_entropy).measure().values
    assert values[STATS.index("grad_a_norm"), -1] == values[STATS.index("grad_z_norm"), -1]


def test_unit_cosine_reads_one_for_identical_and_zero_rows() -> None:
    same, zero, orth, one = torch.ones(4, 3), torch.zeros(4, 3), torch.eye(3), torch.randn(1, 5)
    opposite = torch.tensor([[1.0, 2.0], [-1.0, -2.0]])
    values = unit_cosine([same, zero, orth, one, opposite]).tolist()
    assert values == pytest.approx([1.0, 1.0, 0.0, 1.0, -1.0])  # one unit: nothing to break


def test_example_cosine_of_alike_orthogonal_zero_and_tiny_examples() -> None:
    """Columns of two layers: layer 1 (3 units) and layer 2 (2 units), four examples each."""
    membership = torch.tensor([[1, 0], [1, 0], [1, 0], [0, 1], [0, 1]], dtype=torch.float32)
    alike = torch.tensor([[1.0, 2, 3], [2, 4, 6], [0.5, 1, 1.5], [3, 6, 9]])
    orthogonal_and_zero = torch.tensor([[1.0, 0], [0, 1], [-1, 0], [0, 0]])
    z = torch.cat([alike, orthogonal_and_zero], dim=1)
    # layer 2: pairs (1,2) 0, (1,3) -1, (2,3) 0, and the zero row against each of them 0: -1 / 6
    assert example_cosine(z, membership).tolist() == pytest.approx([1.0, -1 / 6])
    tiny = z * 1e-15  # squares of 1e-30 still count
    assert example_cosine(tiny, membership).tolist() == pytest.approx([1.0, -1 / 6])
    assert example_cosine(z[:1], membership).tolist() == [1.0, 1.0]  # one example: no pair


def test_metric_keys_follow_the_contract() -> None:
    assert layer_key(1, "grad_z_norm") == "grad_z_norm/layer_01"
    assert layer_key(12, "z_mean") == "z_mean/layer_12"


def test_unit_cosine_of_tiny_rows_does_not_underflow() -> None:
    w = torch.full((3, 4), 1e-22)  # float32 squares underflow to 0 at this size
    w[2] = -1e-22
    # pairs: (0,1) = 1, (0,2) = -1, (1,2) = -1 -> mean -1/3
    assert unit_cosine([w]).item() == pytest.approx(-1 / 3, abs=1e-6)


def test_gradient_norms_of_a_deep_sigmoid_net_do_not_underflow() -> None:
    """At depth 40 layer 1's dL/dz is ~1e-28 in norm: float32 squares of its entries are 0."""
    torch.manual_seed(0)
    model = MLP(2, [layer(32, "sigmoid", "xavier_normal")] * 40, 1, "binary", init("pytorch"))
    x = torch.randn(256, 2, generator=torch.Generator().manual_seed(4))
    y = (x[:, :1] > 0).float()
    values = Probe(model, x, y, F.binary_cross_entropy_with_logits).measure().values
    keep: list = []
    loss = F.binary_cross_entropy_with_logits(model(x, keep=keep), y)
    grads = torch.autograd.grad(loss, [keep[0][1], model.linears[0].weight])
    expected = [g.double().norm().item() for g in grads]  # float64 squares of the same float32 gradients
    assert 0 < expected[0] < 1e-24
    assert values[STATS.index("grad_z_norm"), 0].item() == pytest.approx(expected[0], rel=1e-5, abs=0)
    assert values[STATS.index("grad_w_norm"), 0].item() == pytest.approx(expected[1], rel=1e-5, abs=0)


@pytest.mark.parametrize("activation", ["tanh", "prelu"])
def test_probe_of_the_training_batch_equals_a_probe_of_that_batch_and_leaves_backward_unchanged(
    activation: str,
) -> None:
    """probe.batch=train: the stats taken from the step's own forward pass equal those of a
    separate probe of the same rows (issue 22's rule for any reordering of the train mode's
    reductions: within 1e-5 relative or 1e-7 absolute, fractions exactly), and every parameter's
    .grad is what loss.backward() gives (the training stays bit for bit)."""
    model = two_layer_net(activation)
    x, y = torch.randn(64, 3, generator=torch.Generator().manual_seed(2)), torch.arange(64) % 3
    probe = Probe(model, x, y, F.cross_entropy)
    separate = probe.measure().values
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    expected_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    keep: list = []
    pending = probe.measure_step(keep, F.cross_entropy(model(x, keep=keep), y), grad_scale=1.0)
    torch.testing.assert_close(pending.values, separate, rtol=1e-5, atol=1e-7, equal_nan=True)
    fractions = [STATS.index(s) for s in ("saturated_frac", "dead_frac")]
    assert torch.equal(pending.values[fractions].nan_to_num(-1), separate[fractions].nan_to_num(-1))
    for param, grad in zip(model.parameters(), expected_grads, strict=True):
        assert torch.equal(param.grad, grad)
    # A shorter batch's z and a gradient norms are scaled by the factor given, nothing else.
    keep = []
    scaled = probe.measure_step(keep, F.cross_entropy(model(x, keep=keep), y), grad_scale=0.5).values
    rows = [STATS.index("grad_z_norm"), STATS.index("grad_a_norm")]
    torch.testing.assert_close(scaled[rows], separate[rows] * 0.5)
    others = [i for i in range(len(STATS)) if i not in rows]
    torch.testing.assert_close(scaled[others], separate[others], equal_nan=True)
