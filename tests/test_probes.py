"""Probe values against an independent retain_grad computation on a hand-built 2-layer net."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from annlab.model import MLP, InitSpec, LayerSpec
from annlab.probes import STATS, Probe, layer_key, unit_cosine


def two_layer_net(activation: str, width: int = 5, n_in: int = 3, n_out: int = 3) -> MLP:
    torch.manual_seed(1)
    return MLP(
        n_in,
        [LayerSpec(width, activation, InitSpec("xavier_normal"))],
        n_out,
        "multiclass",
        InitSpec("default"),
    )


def reference_stats(model: MLP, x: torch.Tensor, y: torch.Tensor, lr: float) -> dict[str, list[float]]:
    """The stats by their definitions, with retain_grad and plain loops: no code shared with Probe."""
    w1, b1 = model.linears[0].weight.detach().clone(), model.linears[0].bias.detach().clone()
    w2, b2 = model.out.weight.detach().clone(), model.out.bias.detach().clone()
    for t in (w1, b1, w2, b2):
        t.requires_grad_(True)
    z1 = x @ w1.T + b1
    a1 = model.acts[0](z1)
    z2 = a1 @ w2.T + b2
    for t in (z1, a1, z2):
        t.retain_grad()
    F.cross_entropy(z2, y).backward()
    a2 = torch.softmax(z2, dim=-1)

    def cosine(w: torch.Tensor) -> float:
        pairs = list(itertools.combinations(range(w.shape[0]), 2))
        return sum(F.cosine_similarity(w[i], w[j], dim=0).item() for i, j in pairs) / len(pairs)

    def dead(a: torch.Tensor) -> float:
        return sum(bool((a[:, u] == 0).all()) for u in range(a.shape[1])) / a.shape[1]

    def sat(a: torch.Tensor) -> float:
        # derivative below 5% of its peak: tanh' = 1 - a^2 (peak 1), sigmoid' = a(1 - a) (peak 1/4)
        derivative = {"tanh": lambda: 1 - a * a, "sigmoid": lambda: a * (1 - a) * 4}
        name = model.activation_names[0]
        return (derivative[name]() < 0.05).double().mean().item() if name in derivative else 0.0

    out: dict[str, list[float]] = {s: [] for s in STATS}
    for z, a, ga, w, sat_value in ((z1, a1, a1.grad, w1, sat(a1.detach())), (z2, a2, z2.grad, w2, 0.0)):
        out["z_mean"].append(z.mean().item())
        out["z_std"].append(z.std().item())
        out["a_mean"].append(a.mean().item())
        out["a_std"].append(a.std().item())
        out["grad_z_norm"].append(z.grad.norm().item())
        out["grad_a_norm"].append(ga.norm().item())
        out["grad_w_norm"].append(w.grad.norm().item())
        out["w_norm"].append(w.norm().item())
        out["update_ratio"].append(lr * w.grad.norm().item() / w.norm().item())  # SGD on this batch
        out["saturated_frac"].append(sat_value)
        out["dead_frac"].append(dead(a.detach()))
        out["unit_cosine"].append(cosine(w.detach()))
    return out


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_probe_matches_the_definitions(activation: str) -> None:
    model = two_layer_net(activation)
    with torch.no_grad():  # some dead units and some saturated ones, so those stats are not all 0
        model.linears[0].bias[:2] = -50.0 if activation == "relu" else 8.0
    x, y = torch.randn(64, 3, generator=torch.Generator().manual_seed(2)), torch.arange(64) % 3
    lr = 0.1
    expected = reference_stats(model, x, y, lr)
    probe = Probe(model, x, y, F.cross_entropy)
    pending = probe.measure()
    # One SGD step on the probe batch itself, so that update_ratio has a closed form.
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
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
    if activation == "relu":
        assert values[STATS.index("dead_frac"), 0] == pytest.approx(0.4)
    if activation != "relu":
        assert values[STATS.index("saturated_frac"), 0] > 0.1


def test_output_layer_grad_a_is_taken_at_the_logits() -> None:
    model = two_layer_net("tanh")
    x, y = torch.randn(32, 3), torch.arange(32) % 3
    values = Probe(model, x, y, F.cross_entropy).measure().values
    assert values[STATS.index("grad_a_norm"), -1] == values[STATS.index("grad_z_norm"), -1]


def test_unit_cosine_reads_one_for_identical_and_zero_rows() -> None:
    same = torch.ones(1, 4, 3)
    zero = torch.zeros(1, 4, 3)
    orth = torch.eye(3).unsqueeze(0)
    assert unit_cosine(same).item() == pytest.approx(1.0)
    assert unit_cosine(zero).item() == pytest.approx(1.0)
    assert unit_cosine(orth).item() == pytest.approx(0.0)
    assert unit_cosine(torch.randn(1, 1, 5)).item() == 1.0  # one unit: nothing to break


def test_layers_of_different_shapes_and_activations_are_grouped_apart() -> None:
    torch.manual_seed(0)
    hidden = [
        LayerSpec(8, "relu", InitSpec("kaiming_normal")),
        LayerSpec(8, "relu", InitSpec("kaiming_normal")),
        LayerSpec(8, "tanh", InitSpec("xavier_normal")),
        LayerSpec(4, "tanh", InitSpec("xavier_normal")),
    ]
    model = MLP(3, hidden, 1, "binary", InitSpec("default"))
    probe = Probe(model, torch.randn(16, 3), torch.ones(16, 1), F.binary_cross_entropy_with_logits)
    assert sorted(idx for _, idx in probe.groups) == [[0], [1], [2], [3], [4]]
    assert probe.measure().values.shape == (len(STATS), 5)


def test_metric_keys_follow_the_contract() -> None:
    assert layer_key(1, "grad_z_norm") == "grad_z_norm/layer_01"
    assert layer_key(12, "z_mean") == "z_mean/layer_12"


def test_unit_cosine_of_tiny_rows_does_not_underflow() -> None:
    w = torch.full((1, 3, 4), 1e-22)  # float32 squares underflow to 0 at this size
    w[0, 2] = -1e-22
    # pairs: (0,1) = 1, (0,2) = -1, (1,2) = -1 -> mean -1/3
    assert unit_cosine(w).item() == pytest.approx(-1 / 3, abs=1e-6)
