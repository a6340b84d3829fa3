"""Every init's statistics against its formula, on large layers so that tolerances are tight."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from annlab.net.inits import ALIASES, INIT_NAMES, INITS, init_linear, resolve_init

FAN_IN, FAN_OUT = 400, 300


def weights(name: str, params: dict | None = None, bias: float | str = 0.0) -> nn.Linear:
    torch.manual_seed(0)
    layer = nn.Linear(FAN_IN, FAN_OUT)
    init_linear(layer, name, params or {}, bias)
    return layer


def test_registry_covers_the_contract() -> None:
    contract = {
        "zeros",
        "ones",
        "constant",
        "uniform",
        "normal",
        "xavier_normal",
        "xavier_uniform",
        "kaiming_normal",
        "kaiming_uniform",
        "orthogonal",
        "lecun_normal",
        "default",
    }
    assert contract <= set(INIT_NAMES)
    assert resolve_init("xavier") == "xavier_normal" and resolve_init("kaiming") == "kaiming_normal"
    # "default" was the first release's name of PyTorch's own init; it stays an alias of "pytorch".
    assert resolve_init("default") == "pytorch"
    assert set(ALIASES) == {"xavier", "kaiming", "default"}
    assert set(INIT_NAMES) == set(INITS) | set(ALIASES)


@pytest.mark.parametrize(
    ("name", "params", "value"), [("zeros", {}, 0.0), ("ones", {}, 1.0), ("constant", {"val": 0.5}, 0.5)]
)
def test_symmetric_inits_are_exact(name: str, params: dict, value: float) -> None:
    layer = weights(name, params)
    assert torch.equal(layer.weight, torch.full_like(layer.weight, value))
    assert torch.equal(layer.bias, torch.zeros_like(layer.bias))


def test_uniform_respects_its_bounds() -> None:
    w = weights("uniform", {"a": -0.3, "b": 0.7}).weight
    assert w.min() >= -0.3 and w.max() < 0.7
    assert w.mean().item() == pytest.approx(0.2, abs=0.005)
    assert w.std().item() == pytest.approx(1.0 / math.sqrt(12), rel=0.01)


# name, params, expected std of the weights
STDS = [
    ("normal", {"mean": 0.0, "std": 0.5}, 0.5),
    ("xavier_normal", {}, math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ("xavier", {}, math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ("xavier_uniform", {}, math.sqrt(6 / (FAN_IN + FAN_OUT)) / math.sqrt(3)),
    ("kaiming_normal", {"nonlinearity": "relu"}, math.sqrt(2 / FAN_IN)),
    ("kaiming", {"nonlinearity": "relu"}, math.sqrt(2 / FAN_IN)),
    ("kaiming_normal", {"nonlinearity": "relu", "mode": "fan_out"}, math.sqrt(2 / FAN_OUT)),
    ("kaiming_uniform", {"nonlinearity": "relu"}, math.sqrt(2 / FAN_IN)),
    ("lecun_normal", {}, math.sqrt(1 / FAN_IN)),
    ("lecun_normal", {"gain": 1.5}, 1.5 * math.sqrt(1 / FAN_IN)),  # scaled in place, outside autograd
    ("default", {}, 1 / math.sqrt(FAN_IN) / math.sqrt(3)),
]


@pytest.mark.parametrize(("name", "params", "std"), STDS, ids=[f"{n}-{sorted(p.values())}" for n, p, _ in STDS])
def test_random_inits_have_their_formula_std(name: str, params: dict, std: float) -> None:
    w = weights(name, params).weight
    assert w.mean().item() == pytest.approx(0.0, abs=3 * std / math.sqrt(w.numel()) + 1e-12)
    assert w.std().item() == pytest.approx(std, rel=0.02)


def test_xavier_gain_scales_the_std() -> None:
    assert weights("xavier_normal", {"gain": 2.0}).weight.std().item() == pytest.approx(
        2 * math.sqrt(2 / (FAN_IN + FAN_OUT)), rel=0.02
    )


def test_orthogonal_rows_are_orthonormal() -> None:
    w = weights("orthogonal").weight  # 300 x 400: rows orthonormal
    torch.testing.assert_close(w @ w.T, torch.eye(FAN_OUT), atol=1e-5, rtol=0)


def test_default_is_pytorchs_own_linear_init_bias_included() -> None:
    layer = weights("default", bias="default")
    torch.manual_seed(0)
    reference = nn.Linear(FAN_IN, FAN_OUT)
    assert torch.equal(layer.weight, reference.weight) and torch.equal(layer.bias, reference.bias)
    bound = 1 / math.sqrt(FAN_IN)
    assert layer.bias.abs().max() <= bound and layer.bias.abs().max() > 0.9 * bound


def test_bias_is_zero_unless_the_config_says_otherwise() -> None:
    assert torch.equal(weights("xavier_normal").bias, torch.zeros(FAN_OUT))
    assert torch.equal(weights("xavier_normal", bias=0.1).bias, torch.full((FAN_OUT,), 0.1))


def test_unknown_init_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="allowed: zeros, ones"):
        resolve_init("glorot")
