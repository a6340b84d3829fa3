"""The MLP: hidden layers z = Wx + b, a = f(z), and an output layer chosen by the task."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from annlab.config import InitConfig, LayerConfig
from annlab.net.activations import OUTPUT_ACTIVATIONS, build_activation
from annlab.net.inits import init_linear
from annlab.record import TASKS


class MLP(nn.Module):
    """Fully-connected network; `forward` returns the logits (the loss takes those).

    Layers are named as in the seed's Model: `linear1`, `linear2`, ... for the hidden layers
    (`act1`, ... for their activations, which own a parameter when learnable) and `out` for
    the output layer, so that `named_parameters()` reads `linear1.weight`, ..., `out.bias`.
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[LayerConfig],
        out_features: int,
        task: str,
        output_init: InitConfig,
    ) -> None:
        super().__init__()
        self.task = task
        self.activation_names = [layer.activation.name for layer in hidden]
        self.linears: list[nn.Linear] = []
        self.acts: list[nn.Module] = []
        fan_in = in_features
        for i, layer in enumerate(hidden, start=1):
            linear = nn.Linear(fan_in, layer.width)
            init_linear(linear, layer.init.name, layer.init.params, layer.init.bias)
            self.add_module(f"linear{i}", linear)
            self.add_module(f"act{i}", build_activation(layer.activation.name, layer.activation.params))
            self.linears.append(linear)
            self.acts.append(getattr(self, f"act{i}"))
            fan_in = layer.width
        self.out = nn.Linear(fan_in, out_features)
        init_linear(self.out, output_init.name, output_init.params, output_init.bias)
        self.output_activation_name = TASKS[task].output_activation
        self.output_activation = OUTPUT_ACTIVATIONS[self.output_activation_name]

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
