"""Weight initialisations by name, as in the seed's nn.init calls, plus their aliases."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch import Tensor, nn


def _lecun_normal(w: Tensor, gain: float = 1.0) -> Tensor:
    # LeCun 1998: N(0, gain^2 / fan_in); kaiming with the linear gain is exactly that.
    nn.init.kaiming_normal_(w, nonlinearity="linear")
    return w.mul_(gain) if gain != 1.0 else w


def _pytorch_default(w: Tensor) -> Tensor:
    # nn.Linear.reset_parameters: kaiming_uniform with a=sqrt(5), i.e. U(-1/sqrt(fan_in), +).
    return nn.init.kaiming_uniform_(w, a=math.sqrt(5))


INITS: dict[str, Callable[..., Tensor]] = {
    "zeros": nn.init.zeros_,
    "ones": nn.init.ones_,
    "constant": nn.init.constant_,
    "uniform": nn.init.uniform_,
    "normal": nn.init.normal_,
    "xavier_normal": nn.init.xavier_normal_,
    "xavier_uniform": nn.init.xavier_uniform_,
    "kaiming_normal": nn.init.kaiming_normal_,
    "kaiming_uniform": nn.init.kaiming_uniform_,
    "orthogonal": nn.init.orthogonal_,
    "lecun_normal": _lecun_normal,
    "default": _pytorch_default,
}

# The seed says "xavier" and "kaiming" and means the normal variants.
ALIASES: dict[str, str] = {"xavier": "xavier_normal", "kaiming": "kaiming_normal"}

INIT_NAMES: tuple[str, ...] = (*INITS, *ALIASES)


def resolve_init(name: str) -> str:
    """The registry name behind `name` (aliases resolved); ValueError if unknown."""
    resolved = ALIASES.get(name, name)
    if resolved not in INITS:
        raise ValueError(f"init={name!r} is unknown; allowed: {', '.join(INIT_NAMES)}")
    return resolved


def init_linear(layer: nn.Linear, name: str, params: dict[str, Any] | None = None, bias: float | str = 0.0) -> None:
    """Initialise `layer` in place: weight by the init `name`, bias to the constant `bias`.

    `layer` must be freshly constructed: `name="default"` keeps the weight it was made with.
    `bias="default"` keeps PyTorch's own bias init (U(-1/sqrt(fan_in), 1/sqrt(fan_in))).
    """
    fn = INITS[resolve_init(name)]
    # A fresh nn.Linear already holds PyTorch's default init: drawing it again would waste
    # random numbers and make the seed's `nn.Linear(2, 2)` differ from annlab's under one seed.
    if name != "default" or params:
        try:
            fn(layer.weight, **(params or {}))
        except TypeError as err:
            raise ValueError(f"init={name!r}: bad params {params}: {err}") from None
    if layer.bias is None or bias == "default":
        return
    nn.init.constant_(layer.bias, float(bias))
