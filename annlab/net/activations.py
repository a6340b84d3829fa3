"""Activation functions by name: hidden-layer modules, saturation rules and task outputs."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import cache
from typing import Any

import torch
from torch import Tensor, nn

from annlab.names import ACTIVATION_NAMES
from annlab.parts import USER_ACTIVATIONS, import_object

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
# The same rule as a band of a: saturated where |a - centre| > half-width (sigmoid: a (1 - a) <
# f / 4 is |a - 1/2| > sqrt(1 - f) / 2; tanh: 1 - a^2 < f is |a| > sqrt(1 - f)): one distance and
# one comparison, which a probe of every step counts in two passes over a group's activations.
SATURATION_BANDS: dict[str, tuple[float, float]] = {
    "sigmoid": (0.5, math.sqrt(1 - SATURATION_FRACTION) / 2),
    "tanh": (0.0, math.sqrt(1 - SATURATION_FRACTION)),
}


def _outside(centre: float, half_width: float) -> Callable[[Tensor], Tensor]:
    return lambda a: (a - centre).abs() > half_width


SATURATED: dict[str, Callable[[Tensor], Tensor]] = {
    name: _outside(centre, half_width) for name, (centre, half_width) in SATURATION_BANDS.items()
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
    """The hidden-layer activation module called `name` (a built-in, or a user's registered by
    its config, annlab.parts), built with `params`."""
    if name in USER_ACTIVATIONS:
        return user_activation(name, params)
    if name not in ACTIVATIONS:
        raise ValueError(f"activation={name!r} is unknown; allowed: {', '.join(ACTIVATIONS)}")
    try:
        return ACTIVATIONS[name](**(params or {}))
    except TypeError as err:
        raise ValueError(f"activation={name!r}: bad params {params}: {err}") from None


class Function(nn.Module):
    """A user's activation given as a function of one tensor, used as it is."""

    def __init__(self, fn: Callable[[Tensor], Tensor], target: str) -> None:
        super().__init__()
        self.fn, self.target = fn, target

    def forward(self, z: Tensor) -> Tensor:
        return self.fn(z)

    def extra_repr(self) -> str:
        return self.target


def user_activation(name: str, params: dict[str, Any] | None = None) -> nn.Module:
    """The user's activation `name` (annlab.parts.USER_ACTIVATIONS): an nn.Module class built
    with `params`, or a function of one tensor wrapped as it is; checked once (`_checked`)."""
    _checked(name, json.dumps(params or {}, sort_keys=True))
    return _make(name, params)


def _make(name: str, params: dict[str, Any] | None) -> nn.Module:
    target = USER_ACTIVATIONS[name]
    obj = import_object(target)
    if isinstance(obj, type) and issubclass(obj, nn.Module):
        try:
            return obj(**(params or {}))
        except TypeError as err:
            raise ValueError(f"activation {name} (_target_={target}): bad params {params}: {err}") from None
    if callable(obj) and not isinstance(obj, type):
        if params:
            raise ValueError(
                f"activation {name} (_target_={target}) is a function, used as it is: params {params} would be ignored"
            )
        return Function(obj, target)
    raise ValueError(f"activation {name}: _target_={target} is neither an nn.Module class nor a function")


# The grid a user's activation is checked on, and its saturation and histogram range read from.
GRID = (-10.0, 10.0, 2001)  # odd: 0 is on it


def _grid() -> Tensor:
    lo, hi, n = GRID
    return torch.linspace(lo, hi, n, dtype=torch.float64)


@cache
def _checked(name: str, params: str) -> None:
    """The checks a user's activation passes before any job runs: elementwise (the theory, the
    `critical` init and the probes need it), float64 (the theory's precision), finite at
    initialisation. Then its saturation rule and histogram range are registered (from f on GRID)."""
    what = f"activation {name} (_target_={USER_ACTIVATIONS[name]})"
    probe = _make(name, json.loads(params))
    x = torch.linspace(-4, 4, 21).reshape(3, 7)
    try:
        with torch.no_grad():
            y = probe(x)
            shuffled = probe(x.flatten()[torch.randperm(21, generator=torch.Generator().manual_seed(0))].reshape(3, 7))
            row = probe(x[1:2])
            f64 = probe.double()(_grid())
    except Exception as err:
        raise ValueError(f"{what} fails on a float32 or float64 tensor: {type(err).__name__}: {err}") from None
    if not isinstance(y, Tensor) or y.shape != x.shape:
        raise ValueError(f"{what} changes the shape of its input ({tuple(x.shape)} -> {getattr(y, 'shape', type(y))})")
    perm = torch.randperm(21, generator=torch.Generator().manual_seed(0))
    if not (
        torch.allclose(shuffled.flatten(), y.flatten()[perm], atol=1e-6) and torch.allclose(row, y[1:2], atol=1e-6)
    ):
        raise ValueError(
            f"{what} is not elementwise: annlab checks that each output depends on its own input alone "
            "(shuffled inputs, shuffled outputs; one row alone, the same row); the theory, the critical "
            "init and the probes need an elementwise activation"
        )
    if f64.dtype != torch.float64 or not torch.isfinite(f64).all():
        raise ValueError(f"{what}: not finite in float64 on [{GRID[0]:g}, {GRID[1]:g}] at initialisation")
    _register_ranges(name, probe)


def _register_ranges(name: str, module: nn.Module) -> None:
    """A user's activation bounded on GRID (|f'| at both ends below SATURATION_FRACTION of its
    largest |f'| there): its units are saturated where |f'(z)| falls below that share, and its
    histograms get linear bins over f's range on the grid (annlab.bins)."""
    from annlab import bins

    x = _grid().requires_grad_(True)
    (slope,) = torch.autograd.grad(module(x).sum(), x)
    peak = float(slope.abs().max())
    if not (peak > 0 and max(abs(float(slope[0])), abs(float(slope[-1]))) < SATURATION_FRACTION * peak):
        return
    threshold = SATURATION_FRACTION * peak
    SATURATED_Z[name] = lambda act, z: _slope(act, z).abs() < threshold
    with torch.no_grad():
        values = module(_grid())
    bins.BOUNDED[name] = (float(values.min()), float(values.max()))


def _slope(act: nn.Module, z: Tensor) -> Tensor:
    """f'(z) elementwise, by autograd (outside any no_grad)."""
    with torch.enable_grad():
        t = z.detach().requires_grad_(True)
        (slope,) = torch.autograd.grad(act(t).sum(), t)
    return slope


# A user's bounded activation's saturation rule, on its pre-activations z (its module given).
SATURATED_Z: dict[str, Callable[[nn.Module, Tensor], Tensor]] = {}
