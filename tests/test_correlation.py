"""The correlation map against closed forms, a wide network's measured cosines, and its fixed points."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from annlab.net import correlation
from annlab.net.activations import build_activation
from annlab.net.correlation import depth_scale, mehler, mehler_coefficients, predicted_example_cosine
from annlab.net.theory import LayerPrior, moments


def test_relus_map_is_the_arc_cosine_kernel() -> None:
    """Cho and Saul 2009: E[relu(u1) relu(u2)] = q / 2pi (sqrt(1 - c^2) + (pi - arccos c) c)."""
    q = 1.7
    c = np.linspace(-1, 1, 41)
    arc = q / (2 * math.pi) * (np.sqrt(1 - c**2) + (math.pi - np.arccos(c)) * c)
    assert mehler(mehler_coefficients("relu", None, q), c) == pytest.approx(arc, abs=2e-4 * q)
    assert mehler(mehler_coefficients("relu", None, q), 1.0)[0] == pytest.approx(q / 2, rel=1e-9)  # exact at c = 1


def test_tanhs_map_matches_a_two_dimensional_quadrature() -> None:
    q, c = 2.5, np.array([-0.6, 0.0, 0.3, 0.9, 0.99])
    z, w = np.polynomial.hermite_e.hermegauss(120)
    w = w / w.sum()
    z1, z2 = z[:, None], z[None, :]
    expected = [np.sum(w[:, None] * w[None, :] * np.tanh(math.sqrt(q) * z1) * np.tanh(
        math.sqrt(q) * (k * z1 + math.sqrt(1 - k * k) * z2))) for k in c]  # fmt: skip
    assert mehler(mehler_coefficients("tanh", None, q), c) == pytest.approx(expected, abs=1e-5)


def cosines(z: torch.Tensor) -> float:
    """The mean pairwise cosine of the rows of z, pair by pair (numpy)."""
    u = z.double().numpy()
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    i, j = np.triu_indices(len(u), k=1)
    return float(np.mean(np.sum(u[i] * u[j], axis=1)))


@pytest.mark.parametrize(
    ("activation", "sigma_w2", "sigma_b2"), [("tanh", 1.5, 0.1), ("relu", 2.0, 0.05), ("sigmoid", 4.0, 0.0)]
)
def test_a_wide_network_follows_the_prediction_layer_by_layer(
    activation: str, sigma_w2: float, sigma_b2: float
) -> None:
    """Width 2,048, 6 hidden layers, 48 examples of correlated inputs: each layer's measured mean
    pairwise cosine within 0.02 of the predicted one (finite width and one draw of weights)."""
    generator = torch.Generator().manual_seed(0)
    width, depth, features = 2048, 6, 12
    x = torch.randn(48, features, generator=generator, dtype=torch.float64) + torch.randn(
        features, generator=generator, dtype=torch.float64
    )
    act = build_activation(activation, None).double()
    measured, h, fan_in = [], x, features
    for _ in range(depth):
        w = torch.randn(width, fan_in, generator=generator, dtype=torch.float64) * math.sqrt(sigma_w2 / fan_in)
        b = torch.randn(width, generator=generator, dtype=torch.float64) * math.sqrt(sigma_b2)
        z = h @ w.T + b
        measured.append(cosines(z))
        h, fan_in = act(z), width
    layers = [LayerPrior(sigma_w2, sigma_b2, activation)] * depth + [LayerPrior(sigma_w2, sigma_b2)]
    predicted = predicted_example_cosine(layers, float(x.square().mean()), x)
    assert predicted[:-1] == pytest.approx(measured, abs=0.02)
    assert math.isnan(predicted[-1])  # the output layer: not predicted


def test_bins_carry_the_pairs_as_every_pair_alone_would(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(96, 5, generator=torch.Generator().manual_seed(1)) + 0.5
    layers = [LayerPrior(1.0, 0.0, "tanh")] + [LayerPrior(2.5, 0.05, "tanh")] * 11 + [LayerPrior(1.0, 0.0)]
    binned = predicted_example_cosine(layers, float(x.square().mean()), x)
    monkeypatch.setattr(correlation, "BINS", 96 * 95 // 2)
    alone = predicted_example_cosine(layers, float(x.square().mean()), x)
    assert binned[0] == alone[0]  # the first layer's mean is exact
    assert binned[:-1] == pytest.approx(alone[:-1], abs=1e-4)


def test_no_description_and_no_pairs() -> None:
    x = torch.randn(4, 3)
    assert all(
        map(math.isnan, predicted_example_cosine([LayerPrior(float("nan"), 0.0, "relu"), LayerPrior(1.0, 0.0)], 1.0, x))
    )
    one = predicted_example_cosine([LayerPrior(2.0, 0.0, "relu"), LayerPrior(1.0, 0.0)], 1.0, x[:1])
    assert one[0] == 1.0 and math.isnan(one[1])


def test_depth_scales_at_known_points() -> None:
    # The ReLU family: c* = 1 with slope exactly 1 at any gain (a polynomial approach, xi_c infinite).
    for activation in ("relu", "leaky_relu"):
        for sigma_w2 in (1.0, 2.0, 3.0):
            scale = depth_scale(activation, None, sigma_w2)
            assert scale is not None and scale.c_star == 1.0 and scale.chi_c == pytest.approx(1.0, abs=1e-9)
            assert scale.xi_c > 1e6
    # tanh, sigma_b^2 = 0.05 (Schoenholz et al. 2017, Fig. 1): ordered below sigma_w^2 ~ 1.76, where
    # chi_c is chi_1 = sigma_w^2 E[phi'^2] at q*; critical there; chaotic above, with c* < 1 fixed.
    ordered = depth_scale("tanh", None, 1.2, 0.05)
    assert ordered is not None and ordered.c_star == 1.0
    assert ordered.chi_c == pytest.approx(1.2 * moments("tanh", None, ordered.q_star)[1], rel=1e-9)
    critical = depth_scale("tanh", None, 1.76, 0.05)
    assert critical is not None and critical.xi_c > 1000
    chaotic = depth_scale("tanh", None, 3.0, 0.05)
    assert chaotic is not None and 0 < chaotic.c_star < 1 and chaotic.chi_c < 1
    squares = mehler_coefficients("tanh", None, chaotic.q_star)
    q_next = 3.0 * squares.sum() + 0.05
    assert (3.0 * mehler(squares, chaotic.c_star)[0] + 0.05) / q_next == pytest.approx(chaotic.c_star, abs=1e-6)
    # No finite fixed point q* (gelu at gain 1: q* = 0): no correlation to speak of.
    assert depth_scale("gelu", None, 1.0) is None


def test_a_model_without_hidden_layers_and_per_unit_parameters() -> None:
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(2))
    assert all(map(math.isnan, predicted_example_cosine([LayerPrior(1.0, 0.0)], 1.0, x)))  # depth 0
    # PReLU with a slope per unit: the slopes start equal, so the map is the shared slope's.
    per_unit = mehler_coefficients("prelu", {"num_parameters": 16}, 1.3)
    assert per_unit == pytest.approx(mehler_coefficients("prelu", None, 1.3), rel=1e-12)


def test_the_depth_scale_table_reads_each_init_of_an_activation() -> None:
    from annlab.read.expected import depth_scales

    table = depth_scales(["sigmoid", "gelu"]).set_index(["activation", "init"])
    assert list(table.columns) == ["gain", "q_star", "c_star", "chi_c", "xi_c"]
    assert table.loc[("sigmoid", "xavier"), "c_star"] == 1.0 and table.loc[("sigmoid", "xavier"), "xi_c"] < 1
    assert math.isinf(table.loc[("sigmoid", "critical"), "xi_c"])  # chi = 1 at its critical gain
    assert table.loc[("gelu", "xavier"), "q_star"] == 0 and math.isnan(table.loc[("gelu", "xavier"), "c_star"])
