"""Activation functions by name: hidden-layer modules, saturation rules and task outputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from annlab.names import ACTIVATION_NAMES

# Hidden-layer activations. Each entry builds a module from the config's params, so that a
# learnable one (PReLU) owns its parameter and appears in the model's parameter summary.
ACTIVATIONS: dict[str, Callable[..., nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "prelu": nn.PReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
    "softsign": nn.Softsign,
    "identity": nn.Identity,
}
assert tuple(ACTIVATIONS) == ACTIVATION_NAMES, "annlab.names.ACTIVATION_NAMES must list ACTIVATIONS' keys"

# Flat regions of the bounded activations: a unit is saturated where the derivative has fallen
# below 5% of its peak (sigmoid: |z| > 4.36, a outside [0.0127, 0.987]; tanh: |z| > 2.18,
# |a| > 0.975). Unbounded activations have no such region; the ReLU family's flat side is
# reported as dead_frac instead.
SATURATION_FRACTION = 0.05
SATURATED: dict[str, Callable[[Tensor], Tensor]] = {
    "sigmoid": lambda a: a * (1 - a) < SATURATION_FRACTION * 0.25,
    "tanh": lambda a: 1 - a * a < SATURATION_FRACTION,
}


def _softmax(z: Tensor) -> Tensor:
    return torch.softmax(z, dim=-1)


def _identity(z: Tensor) -> Tensor:
    return z


# The output activations by name; which one a model uses follows its task (annlab.record.TASKS:
# binary -> sigmoid, multi-class -> softmax, regression -> identity, the seed's rule). The loss
# always takes the logits, for numerical stability: these only give what a user sees.
OUTPUT_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "sigmoid": torch.sigmoid,
    "softmax": _softmax,
    "identity": _identity,
}


def build_activation(name: str, params: dict[str, Any] | None = None) -> nn.Module:
    """The hidden-layer activation module called `name`, built with `params`."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation={name!r} is unknown; allowed: {', '.join(ACTIVATIONS)}")
    try:
        return ACTIVATIONS[name](**(params or {}))
    except TypeError as err:
        raise ValueError(f"activation={name!r}: bad params {params}: {err}") from None
