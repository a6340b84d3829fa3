"""Weight initialisations by name, as in the seed's nn.init calls: how each fills W, and Var(W_ij)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from annlab.names import INIT_ALIASES, INIT_NAMES, INIT_REGISTRY_NAMES
from annlab.net.critical import fill
from annlab.parts import USER_INITS, evaluate, import_object

Params = dict[str, Any]
NAN = float("nan")


def _lecun_normal(w: Tensor, gain: float = 1.0) -> Tensor:
    # LeCun 1998: N(0, gain^2 / fan_in); kaiming with the linear gain is exactly that.
    nn.init.kaiming_normal_(w, nonlinearity="linear")
    if gain != 1.0:
        with torch.no_grad():  # a parameter's in-place scaling, outside autograd (as nn.init does)
            w.mul_(gain)
    return w


def _pytorch(w: Tensor) -> Tensor:
    # nn.Linear.reset_parameters: kaiming_uniform with a=sqrt(5), i.e. U(-1/sqrt(fan_in), +).
    return nn.init.kaiming_uniform_(w, a=math.sqrt(5))


def _kaiming_variance(p: Params, fan_in: int, fan_out: int) -> float:
    gain = nn.init.calculate_gain(p.get("nonlinearity", "leaky_relu"), p.get("a", 0))
    return gain**2 / (fan_in if p.get("mode", "fan_in") == "fan_in" else fan_out)


def _normal_variance(p: Params, fan_in: int, fan_out: int) -> float:
    return float(p.get("std", 1.0)) ** 2 if float(p.get("mean", 0.0)) == 0 else NAN


def _uniform_variance(p: Params, fan_in: int, fan_out: int) -> float:
    a, b = float(p.get("a", 0.0)), float(p.get("b", 1.0))
    return (b - a) ** 2 / 12 if a == -b else NAN


def _gain(p: Params) -> float:
    return float(p.get("gain", 1.0)) ** 2


@dataclass(frozen=True)
class Init:
    """A registry entry: `fill(w, **params)` draws W in place; `variance(params, fan_in, fan_out)`
    is Var(W_ij) by the init's formula, NaN where W is not zero-mean random (zeros, ones,
    constant, a uniform or normal with a non-zero mean): the mean-field theory needs it."""

    fill: Callable[..., Tensor]
    variance: Callable[[Params, int, int], float]


def _no_variance(p: Params, fan_in: int, fan_out: int) -> float:
    return NAN


INITS: dict[str, Init] = {
    "zeros": Init(nn.init.zeros_, _no_variance),
    "ones": Init(nn.init.ones_, _no_variance),
    "constant": Init(nn.init.constant_, _no_variance),
    "uniform": Init(nn.init.uniform_, _uniform_variance),
    "normal": Init(nn.init.normal_, _normal_variance),
    "xavier_normal": Init(nn.init.xavier_normal_, lambda p, i, o: _gain(p) * 2 / (i + o)),
    "xavier_uniform": Init(nn.init.xavier_uniform_, lambda p, i, o: _gain(p) * 2 / (i + o)),
    "kaiming_normal": Init(nn.init.kaiming_normal_, _kaiming_variance),
    "kaiming_uniform": Init(nn.init.kaiming_uniform_, _kaiming_variance),
    "orthogonal": Init(nn.init.orthogonal_, lambda p, i, o: _gain(p) / max(i, o)),
    "lecun_normal": Init(_lecun_normal, lambda p, i, o: _gain(p) / i),
    "pytorch": Init(_pytorch, lambda p, i, o: 1 / (3 * i)),  # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    # Gains chosen so that every hidden layer's backward factor is 1 (annlab.net.critical): the
    # model computes them (from the theory, or measured on a batch) and passes each as `gain`.
    "critical": Init(lambda w, gain=1.0: fill(w, gain), lambda p, i, o: _gain(p) / i),
    "critical_orthogonal": Init(lambda w, gain=1.0: fill(w, gain, orthogonal=True), lambda p, i, o: _gain(p) / i),
    "calibrated": Init(lambda w, gain=1.0: fill(w, gain), lambda p, i, o: _gain(p) / i),
    "calibrated_orthogonal": Init(lambda w, gain=1.0: fill(w, gain, orthogonal=True), lambda p, i, o: _gain(p) / i),
    # sigma_w^2 and sigma_b^2 on the critical line at q* (annlab.net.theory.critical_line): the model
    # solves them and passes the gain; q_star is the model's, not the fill's.
    "critical_line": Init(lambda w, gain=1.0, q_star=1.0: fill(w, gain), lambda p, i, o: _gain(p) / i),
    "critical_line_orthogonal": Init(
        lambda w, gain=1.0, q_star=1.0: fill(w, gain, orthogonal=True), lambda p, i, o: _gain(p) / i
    ),
}

assert tuple(INITS) == INIT_REGISTRY_NAMES, "annlab.names.INIT_REGISTRY_NAMES must list INITS' keys"
ALIASES = INIT_ALIASES


def resolve_init(name: str) -> str:
    """The registry name behind `name` (aliases resolved; a user's init is its own); ValueError if unknown."""
    if name in USER_INITS:
        return name
    resolved = ALIASES.get(name, name)
    if resolved not in INITS:
        raise ValueError(f"init={name!r} is unknown; allowed: {', '.join(INIT_NAMES)}")
    return resolved


def weight_variance(name: str, params: Params | None, fan_in: int, fan_out: int) -> float:
    """Var(W_ij) of init `name` for a layer of `fan_in` inputs and `fan_out` units (NaN: not random,
    or a user's init without a variance formula: measure it on the drawn weights)."""
    if name in USER_INITS:
        formula = USER_INITS[name][1]
        return evaluate(formula, {**(params or {}), "fan_in": fan_in, "fan_out": fan_out}) if formula else NAN
    return INITS[resolve_init(name)].variance(params or {}, fan_in, fan_out)


def bias_moments(bias: float | str, bias_std: float, fan_in: int) -> tuple[float, float]:
    """The biases' mean and variance sigma_b^2: PyTorch's default is U(-1/sqrt(fan_in), +); a
    constant b is a mean, not a variance (it shifts every unit alike); bias_std adds its square."""
    return (0.0, 1 / (3 * fan_in)) if bias == "default" else (float(bias), bias_std**2)


def init_linear(
    layer: nn.Linear, name: str, params: Params | None = None, bias: float | str = 0.0, bias_std: float = 0.0
) -> None:
    """Initialise `layer` in place: weight by the init `name`, bias to the constant `bias` (drawn
    from N(bias, bias_std^2) where bias_std > 0).

    `layer` must be freshly constructed: `name="pytorch"` keeps the weight it was made with.
    `bias="default"` keeps PyTorch's own bias init (U(-1/sqrt(fan_in), 1/sqrt(fan_in))).
    """
    resolved = resolve_init(name)
    if resolved in USER_INITS:
        _user_fill(layer.weight, resolved, params or {})
        _bias(layer, bias, bias_std)
        return
    # A fresh nn.Linear already holds PyTorch's default init: drawing it again would waste
    # random numbers and make the seed's `nn.Linear(2, 2)` differ from annlab's under one seed.
    if resolved != "pytorch" or params:
        try:
            INITS[resolved].fill(layer.weight, **(params or {}))
        except TypeError as err:
            raise ValueError(f"init={name!r}: bad params {params}: {err}") from None
    _bias(layer, bias, bias_std)


def _user_fill(w: Tensor, name: str, params: Params) -> None:
    """A user's init (annlab.parts.USER_INITS): its function fills `w` in place, outside autograd."""
    target = USER_INITS[name][0]
    fill_fn = import_object(target)
    if isinstance(fill_fn, type) or not callable(fill_fn):
        raise ValueError(f"init {name}: _target_={target} is not a function that fills a weight tensor")
    try:
        with torch.no_grad():
            fill_fn(w, **params)
    except TypeError as err:
        raise ValueError(f"init {name} (_target_={target}): bad params {params}: {err}") from None
    if not torch.isfinite(w).all():
        raise ValueError(f"init {name} (_target_={target}) drew non-finite weights")


def _bias(layer: nn.Linear, bias: float | str, bias_std: float) -> None:
    if layer.bias is None or bias == "default":
        return
    if bias_std > 0:
        nn.init.normal_(layer.bias, float(bias), bias_std)
    else:
        nn.init.constant_(layer.bias, float(bias))
