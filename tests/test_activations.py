"""Every activation's value and derivative against the seed's (and the papers') formulas."""

from __future__ import annotations

import math

import pytest
import torch

from annlab.net.activations import ACTIVATIONS, OUTPUT_ACTIVATIONS, SATURATED, SATURATION_FRACTION, build_activation
from annlab.record import TASKS

Z = torch.linspace(-6.0, 6.0, 241, dtype=torch.float64)
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805
PHI = lambda z: 0.5 * (1 + torch.erf(z / math.sqrt(2)))  # noqa: E731
PDF = lambda z: torch.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
SIG = lambda z: 1 / (1 + torch.exp(-z))  # noqa: E731

# name -> (value f(z), derivative f'(z)); sigmoid, tanh, relu as the seed writes them.
FORMULAS = {
    "sigmoid": (SIG, lambda z: SIG(z) * (1 - SIG(z))),
    "tanh": (
        lambda z: (1 - torch.exp(-2 * z)) / (1 + torch.exp(-2 * z)),
        lambda z: 1 - ((1 - torch.exp(-2 * z)) / (1 + torch.exp(-2 * z))) ** 2,
    ),
    "relu": (lambda z: torch.clamp(z, min=0), lambda z: (z > 0).double()),
    "leaky_relu": (lambda z: torch.where(z > 0, z, 0.01 * z), lambda z: torch.where(z > 0, 1.0, 0.01)),
    "prelu": (lambda z: torch.where(z > 0, z, 0.25 * z), lambda z: torch.where(z > 0, 1.0, 0.25)),
    "elu": (
        lambda z: torch.where(z > 0, z, torch.exp(z) - 1),
        lambda z: torch.where(z > 0, 1.0, torch.exp(z)),
    ),
    "selu": (
        lambda z: SELU_SCALE * torch.where(z > 0, z, SELU_ALPHA * (torch.exp(z) - 1)),
        lambda z: SELU_SCALE * torch.where(z > 0, 1.0, SELU_ALPHA * torch.exp(z)),
    ),
    "gelu": (lambda z: z * PHI(z), lambda z: PHI(z) + z * PDF(z)),
    "silu": (lambda z: z * SIG(z), lambda z: SIG(z) * (1 + z * (1 - SIG(z)))),
    "softplus": (lambda z: torch.log1p(torch.exp(z)), SIG),
    # Glorot and Bengio 2010: z / (1 + |z|), derivative 1 / (1 + |z|)^2
    "softsign": (lambda z: z / (1 + z.abs()), lambda z: 1 / (1 + z.abs()) ** 2),
    "identity": (lambda z: z, lambda z: torch.ones_like(z)),
}


def test_every_registered_activation_has_a_formula() -> None:
    assert set(ACTIVATIONS) == set(FORMULAS)
    assert {
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "prelu",
        "elu",
        "selu",
        "gelu",
        "silu",
        "identity",
    } <= set(ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_value_and_derivative(name: str) -> None:
    f, df = FORMULAS[name]
    module = build_activation(name).double()
    z = Z[Z.abs() > 1e-9].clone().requires_grad_(True)  # ReLU-family derivatives jump at 0
    a = module(z)
    (grad,) = torch.autograd.grad(a.sum(), z)
    torch.testing.assert_close(a.detach(), f(z.detach()), rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(grad, df(z.detach()), rtol=1e-6, atol=1e-9, check_dtype=False)


def test_sigmoid_derivative_peaks_at_a_quarter_as_the_seed_says() -> None:
    z = Z.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(torch.sigmoid(z).sum(), z)
    assert grad.max().item() == pytest.approx(0.25)
    assert grad.min().item() >= 0.0


def test_prelu_slope_is_learnable() -> None:
    prelu = build_activation("prelu", {"num_parameters": 1, "init": 0.25})
    params = list(prelu.parameters())
    assert len(params) == 1 and params[0].requires_grad and params[0].item() == pytest.approx(0.25)


def test_output_activations_follow_the_task() -> None:
    z = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    out = {task: OUTPUT_ACTIVATIONS[t.output_activation] for task, t in TASKS.items()}
    soft = out["multiclass"](z)
    torch.testing.assert_close(soft, torch.exp(z) / torch.exp(z).sum(-1, keepdim=True))
    torch.testing.assert_close(soft.sum(-1), torch.ones(2))
    torch.testing.assert_close(out["binary"](z), 1 / (1 + torch.exp(-z)))
    assert out["regression"](z) is z


def test_saturation_rules_mark_the_flat_tails() -> None:
    a_sig = torch.sigmoid(torch.tensor([-5.0, -4.0, 0.0, 4.0, 5.0]))
    assert SATURATED["sigmoid"](a_sig).tolist() == [True, False, False, False, True]
    a_tanh = torch.tanh(torch.tensor([-2.5, -2.0, 0.0, 2.0, 2.5]))
    assert SATURATED["tanh"](a_tanh).tolist() == [True, False, False, False, True]


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_a_saturation_band_is_where_the_slope_is_below_its_share_of_the_peak(name: str) -> None:
    """|a - centre| > half-width marks the units whose f'(z) is below SATURATION_FRACTION of its
    peak, on a dense grid of z, but for z within 1e-4 of the edge (float32 rounding of a)."""
    z = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
    f = torch.sigmoid if name == "sigmoid" else torch.tanh
    slope = f(z) * (1 - f(z)) / 0.25 if name == "sigmoid" else 1 - f(z) ** 2
    flat = slope < SATURATION_FRACTION
    edge = z[flat.logical_xor(flat.roll(1))].abs()  # where the rule turns (both ends are flat: no wrap)
    near = (z.abs().unsqueeze(1) - edge.unsqueeze(0)).abs().min(1).values < 1e-4
    marked = SATURATED[name](f(z).float())
    assert marked.sum() > 10_000 and (~marked).sum() > 10_000
    assert torch.equal(marked[~near], flat[~near])


def test_unknown_activation_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="allowed: sigmoid, tanh, relu"):
        build_activation("swishy")


def test_softmax_output_jacobian_is_diag_s_minus_s_outer_s() -> None:
    """The seed's softmax output: d softmax(z) / dz = diag(s) - s s^T, against autograd."""
    z = torch.randn(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    softmax = OUTPUT_ACTIVATIONS["softmax"]
    for row in z:
        s = softmax(row)
        jacobian = torch.autograd.functional.jacobian(softmax, row)
        torch.testing.assert_close(jacobian, torch.diag(s) - torch.outer(s, s))
        torch.testing.assert_close(jacobian.sum(0), torch.zeros(5, dtype=torch.float64))  # s sums to 1
