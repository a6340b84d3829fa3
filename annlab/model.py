"""The MLP: hidden layers z = Wx + b, a = f(z), and an output layer chosen by the task."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from annlab.activations import OUTPUT_ACTIVATIONS, build_activation
from annlab.inits import init_linear


@dataclass(frozen=True)
class InitSpec:
    """How one linear layer starts: the weight init, its params, the bias constant."""

    name: str = "default"
    params: dict[str, Any] = field(default_factory=dict)
    bias: float | str = 0.0


@dataclass(frozen=True)
class LayerSpec:
    """One hidden layer: its width, activation (with params) and init."""

    width: int
    activation: str
    init: InitSpec
    activation_params: dict[str, Any] = field(default_factory=dict)


class MLP(nn.Module):
    """Fully-connected network; `forward` returns the logits (the loss takes those)."""

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[LayerSpec],
        out_features: int,
        task: str,
        output_init: InitSpec,
    ) -> None:
        super().__init__()
        self.task = task
        self.activation_names = [spec.activation for spec in hidden]
        self.linears = nn.ModuleList()
        self.acts = nn.ModuleList()
        fan_in = in_features
        for spec in hidden:
            linear = nn.Linear(fan_in, spec.width)
            init_linear(linear, spec.init.name, spec.init.params, spec.init.bias)
            self.linears.append(linear)
            self.acts.append(build_activation(spec.activation, spec.activation_params))
            fan_in = spec.width
        self.out = nn.Linear(fan_in, out_features)
        init_linear(self.out, output_init.name, output_init.params, output_init.bias)
        self.output_activation = OUTPUT_ACTIVATIONS[task]

    @property
    def depth(self) -> int:
        return len(self.linears)

    def layers(self) -> list[nn.Linear]:
        """Every linear layer, input side first, the output layer last."""
        return [*self.linears, self.out]

    def forward(self, x: Tensor, keep: list[tuple[Tensor, Tensor, Tensor]] | None = None) -> Tensor:
        """Logits of `x`; with `keep`, append (input, z, a) of every layer to it."""
        for linear, act in zip(self.linears, self.acts, strict=True):
            z = linear(x)
            a = act(z)
            if keep is not None:
                keep.append((x, z, a))
            x = a
        logits = self.out(x)
        if keep is not None:
            keep.append((x, logits, self.output_activation(logits)))
        return logits

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """What a user sees: the output activation of the logits (probabilities or values)."""
        return self.output_activation(self.forward(x))
