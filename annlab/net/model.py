"""The MLP: hidden layers z = Wx + b, a = f(z), and an output layer chosen by the task."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from annlab.config import InitConfig, LayerConfig
from annlab.net.activations import OUTPUT_ACTIVATIONS, build_activation
from annlab.net.critical import CALIBRATED, CRITICAL, calibrate
from annlab.net.inits import init_linear, resolve_init
from annlab.net.theory import critical_gains
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
        input_second_moment: float = 1.0,
    ) -> None:
        super().__init__()
        self.task = task
        self.activation_names = [layer.activation.name for layer in hidden]
        self.linears: list[nn.Linear] = []
        self.acts: list[nn.Module] = []
        inits = [layer.init for layer in hidden] + [output_init]
        self._init_names = [resolve_init(i.name) for i in inits]
        self.gains: list[float | None] = self._theory_gains(hidden, self._init_names, input_second_moment)
        fan_in = in_features
        for i, layer in enumerate(hidden, start=1):
            linear = nn.Linear(fan_in, layer.width)
            self._init(linear, layer.init, self.gains[i - 1])
            self.add_module(f"linear{i}", linear)
            self.add_module(f"act{i}", build_activation(layer.activation.name, layer.activation.params))
            self.linears.append(linear)
            self.acts.append(getattr(self, f"act{i}"))
            fan_in = layer.width
        self.out = nn.Linear(fan_in, out_features)
        self._init(self.out, output_init, self.gains[-1])
        self.output_activation_name = TASKS[task].output_activation
        self.output_activation = OUTPUT_ACTIVATIONS[self.output_activation_name]

    @staticmethod
    def _theory_gains(hidden: Sequence[LayerConfig], names: list[str], moment: float) -> list[float | None]:
        """The gain of every layer whose init chooses it: critical's from the theory now,
        calibrated's 1 until `calibrate` measures it; None for every other init."""
        if not hidden and any(n in CALIBRATED for n in names):
            raise ValueError("a model without hidden layers has no backward factor to make 1 (depth 0)")
        gains: list[float | None] = [1.0 if n in CALIBRATED else None for n in names]  # calibrate() rescales
        if any(n in CRITICAL for n in names):
            theory = critical_gains([(layer.activation.name, layer.activation.params) for layer in hidden], moment)
            gains = [g if n in CRITICAL else old for g, n, old in zip(theory, names, gains, strict=True)]
        return gains

    @staticmethod
    def _init(linear: nn.Linear, init: InitConfig, gain: float | None) -> None:
        params = init.params if gain is None else {**init.params, "gain": gain}
        init_linear(linear, init.name, params, init.bias)

    def calibrate(self, x: Tensor) -> None:
        """Rescale the layers whose init is calibrated so that every hidden layer's backward factor
        is 1 on the batch `x` (annlab.net.critical.calibrate); their gains are then recorded."""
        which = [g is not None and n in CALIBRATED for g, n in zip(self.gains, self._init_names, strict=True)]
        if not any(which):
            return
        measured = calibrate(self.layers(), self.acts, x, which)
        self.gains = [m if w else g for m, w, g in zip(measured, which, self.gains, strict=True)]

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
