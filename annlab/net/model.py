"""The MLP: hidden layers z = Wx + b, a = f(z), and an output layer chosen by the task."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from annlab.config import InitConfig, LayerConfig
from annlab.names import CRITICAL_LINE
from annlab.net.activations import OUTPUT_ACTIVATIONS, build_activation
from annlab.net.critical import CALIBRATED, CRITICAL, calibrate
from annlab.net.inits import bias_moments, init_linear, resolve_init
from annlab.net.theory import critical_gains, critical_line
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
        fans = [in_features, *(layer.width for layer in hidden)]
        # Every layer's bias mean and variance sigma_b^2, as drawn (the critical line solves its own).
        self.bias_moments = [bias_moments(i.bias, i.bias_std, fan) for i, fan in zip(inits, fans, strict=True)]
        self.gains: list[float | None] = self._theory_gains(hidden, inits, input_second_moment)
        fan_in = in_features
        for i, layer in enumerate(hidden, start=1):
            linear = nn.Linear(fan_in, layer.width)
            self._init(linear, layer.init, self.gains[i - 1], self.bias_moments[i - 1][1])
            self.add_module(f"linear{i}", linear)
            self.add_module(f"act{i}", build_activation(layer.activation.name, layer.activation.params))
            self.linears.append(linear)
            self.acts.append(getattr(self, f"act{i}"))
            fan_in = layer.width
        self.out = nn.Linear(fan_in, out_features)
        self._init(self.out, output_init, self.gains[-1], self.bias_moments[-1][1])
        self.output_activation_name = TASKS[task].output_activation
        self.output_activation = OUTPUT_ACTIVATIONS[self.output_activation_name]

    def _theory_gains(
        self, hidden: Sequence[LayerConfig], inits: list[InitConfig], moment: float
    ) -> list[float | None]:
        """The gain of every layer whose init chooses it: critical's and the critical line's from
        the theory now (the line's biases too), calibrated's 1 until `calibrate` measures it;
        None for every other init."""
        names = self._init_names
        if not hidden and any(n in CALIBRATED for n in names):
            raise ValueError("a model without hidden layers has no backward factor to make 1 (depth 0)")
        gains: list[float | None] = [1.0 if n in CALIBRATED else None for n in names]  # calibrate() rescales
        activations = [(layer.activation.name, layer.activation.params) for layer in hidden]
        if any(n in CRITICAL for n in names):
            # The hidden layers' biases as drawn (the first hidden layer's stand for all: one map).
            mean, variance = self.bias_moments[0]
            theory = critical_gains(activations, moment, variance, mean)
            gains = [g if n in CRITICAL else old for g, n, old in zip(theory, names, gains, strict=True)]
        lines = {float(i.params.get("q_star", 1.0)) for i, n in zip(inits, names, strict=True) if n in CRITICAL_LINE}
        if len(lines) > 1:
            raise ValueError(f"one net, one critical line: the layers ask for q_star {sorted(lines)}")
        if lines:
            solved = critical_line(activations, lines.pop(), moment)
            for k, (n, (sigma_w2, sigma_b2)) in enumerate(zip(names, solved, strict=True)):
                if n in CRITICAL_LINE:
                    gains[k] = math.sqrt(sigma_w2)
                    self.bias_moments[k] = (0.0, sigma_b2)
        return gains

    @staticmethod
    def _init(linear: nn.Linear, init: InitConfig, gain: float | None, sigma_b2: float) -> None:
        params = init.params if gain is None else {**init.params, "gain": gain}
        init_linear(linear, init.name, params, init.bias, math.sqrt(sigma_b2) if init.bias != "default" else 0.0)

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
