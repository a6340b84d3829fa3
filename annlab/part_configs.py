"""The activation and init configs: a built-in by name, or the user's own by its import path."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from annlab.names import ACTIVATION_NAMES, CRITICAL_LINE, INIT_NAMES


def _import_path(target: str, option: str) -> None:
    """ValueError where `target` is not a dotted import path (Hydra's ??? where none was given)."""
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", target):
        group = option.split("=")[0]
        raise ValueError(
            f"{option} needs {group}._target_=module.Name (your {group}'s import path)"
            if target == "???"
            else f"_target_={target!r} is not an import path (module.Name)"
        )


def _user_name(target: str, name: str, group: str, builtins: tuple[str, ...]) -> str:
    """The short name of a user's part at `target` (the path's last part unless `name` is given),
    checked: the path is an import path, the name is not a built-in's."""
    from annlab.parts import short_name

    _import_path(target, f"{group}=custom")
    name = name or short_name(target)
    if name in builtins:
        raise ValueError(
            f"_target_={target}: the short name {name!r} is a built-in {group}'s; give yours another ({group}.name=...)"
        )
    return name


class ActivationConfig(BaseModel):
    """A built-in activation by `name`, or the user's own by its import path (Hydra's `_target_`:
    an nn.Module class built with `params`, or a function of one tensor), under a short `name`
    (by default the path's last part, lower case) that is not a built-in's."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    target: str | None = Field(default=None, alias="_target_")

    @model_validator(mode="after")
    def _known(self) -> ActivationConfig:
        from annlab.parts import register_activation

        if self.target is None:
            if self.name not in ACTIVATION_NAMES:
                raise ValueError(
                    f"unknown activation {self.name!r}; allowed: {', '.join(ACTIVATION_NAMES)}, "
                    "or your own by its import path (_target_)"
                )
            return self
        name = _user_name(self.target, self.name, "activation", ACTIVATION_NAMES)
        register_activation(name, self.target)
        object.__setattr__(self, "name", name)  # frozen: the short name is filled once, here
        return self


class InitConfig(BaseModel):
    """A built-in init by `name`, or the user's own by its import path (`_target_`: a function
    that fills a weight tensor in place, given `params`) under a short `name`, with `variance`, a
    formula of Var(W_ij) in fan_in, fan_out and the params (else measured on the drawn weights)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    target: str | None = Field(default=None, alias="_target_")
    variance: str | None = None

    # A constant, or "default": PyTorch's own bias init U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    bias: float | Literal["default"] = 0.0
    # > 0: biases drawn from N(bias, bias_std^2), as the mean-field papers draw them (sigma_b).
    bias_std: float = Field(0.0, ge=0.0)

    @field_validator("variance", mode="before")
    @classmethod
    def _formula(cls, v: object) -> object:
        # a constant variance (init.variance=0.01) is a formula too
        return repr(v) if isinstance(v, int | float) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _known(self) -> InitConfig:
        from annlab.parts import formula_names, register_init

        if self.target is None:
            if self.name not in INIT_NAMES:
                allowed = ", ".join(INIT_NAMES)
                raise ValueError(
                    f"unknown init {self.name!r}; allowed: {allowed}, or your own by its import path (_target_)"
                )
            if self.variance is not None:
                raise ValueError(
                    f"init={self.name} has its own variance formula: variance={self.variance!r} would be ignored"
                )
            return self
        name = _user_name(self.target, self.name, "init", INIT_NAMES)
        if self.variance is not None:
            unknown = formula_names(self.variance) - {"fan_in", "fan_out", *self.params}
            if unknown:
                raise ValueError(
                    f"variance={self.variance!r} uses {', '.join(sorted(unknown))}: "
                    "it may use fan_in, fan_out and the params"
                )
        register_init(name, self.target, self.variance)
        object.__setattr__(self, "name", name)  # frozen: the short name is filled once, here
        return self

    @model_validator(mode="after")
    def _bias_drawn_once(self) -> InitConfig:
        if self.bias_std and self.bias == "default":
            raise ValueError("bias_std > 0 draws the bias from N(bias, bias_std^2): bias=default draws it already")
        if self.name in CRITICAL_LINE and (self.bias != 0.0 or self.bias_std):
            raise ValueError(
                f"init={self.name} solves sigma_b^2 itself (biases N(0, sigma_b^2) on the critical line): "
                "leave bias=0.0 and bias_std=0.0"
            )
        return self
