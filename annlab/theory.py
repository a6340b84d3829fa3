"""Mean-field signal propagation at initialisation (Poole et al. 2016; Schoenholz et al. 2017).

For an MLP whose layer-l weights are i.i.d. with variance sigma_w^2 / fan_in and biases with
variance sigma_b^2, the pre-activation variance follows the length map
    q_l = sigma_w,l^2 * E_z[phi(sqrt(q_{l-1}) z)^2] + sigma_b,l^2      (z standard normal)
and the backpropagated signal shrinks or grows per layer by
    ||dL/dz_l|| / ||dL/dz_{l+1}|| = sqrt(chi_l),  chi_l = sigma_w,l+1^2 * E_z[phi'(sqrt(q_l) z)^2].
Expectations are taken by Gauss-Hermite quadrature.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from annlab.activations import build_activation
from annlab.config import RunConfig, parse_config
from annlab.inits import resolve_init

# Even: no node at 0, where the ReLU family's derivative jumps (symmetric nodes then give exactly 1/2).
QUADRATURE_POINTS = 100
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(QUADRATURE_POINTS)
_WEIGHTS = _WEIGHTS / math.sqrt(2 * math.pi)  # sum(w * f(x)) = E[f(z)], z ~ N(0, 1)


def gaussian_expectation(f: np.ndarray) -> float:
    """E[f(z)] for f evaluated at the quadrature nodes (`nodes()`)."""
    return float(np.dot(_WEIGHTS, f))


def nodes() -> np.ndarray:
    return _NODES


def phi_and_derivative(activation: str, params: dict[str, Any] | None, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """phi(x) and phi'(x) of the registered activation, by autograd in float64."""
    module = build_activation(activation, params).double()
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    a = module(t)
    (da,) = torch.autograd.grad(a.sum(), t)
    return a.detach().numpy(), da.numpy()


def weight_variance(init: str, params: dict[str, Any] | None, fan_in: int, fan_out: int) -> float:
    """Var(W_ij) of the init `init`, from its formula; NaN where the weights are not zero-mean
    random (zeros, ones, constant, a uniform or normal with a non-zero mean): no mean-field."""
    p = params or {}
    name = resolve_init(init)
    if name == "normal":
        return float(p.get("std", 1.0)) ** 2 if float(p.get("mean", 0.0)) == 0 else float("nan")
    if name == "uniform":
        a, b = float(p.get("a", 0.0)), float(p.get("b", 1.0))
        return (b - a) ** 2 / 12 if a == -b else float("nan")
    if name in ("xavier_normal", "xavier_uniform"):
        return float(p.get("gain", 1.0)) ** 2 * 2 / (fan_in + fan_out)
    if name in ("kaiming_normal", "kaiming_uniform"):
        gain = torch.nn.init.calculate_gain(p.get("nonlinearity", "leaky_relu"), p.get("a", 0))
        return gain**2 / (fan_in if p.get("mode", "fan_in") == "fan_in" else fan_out)
    if name == "lecun_normal":
        return float(p.get("gain", 1.0)) ** 2 / fan_in
    if name == "orthogonal":
        return float(p.get("gain", 1.0)) ** 2 / max(fan_in, fan_out)
    if name == "default":
        return 1 / (3 * fan_in)  # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    return float("nan")


def bias_variance(bias: float | str, fan_in: int) -> float:
    """sigma_b^2: PyTorch's default bias is U(-1/sqrt(fan_in), +); a constant b adds b^2."""
    return 1 / (3 * fan_in) if bias == "default" else float(bias) ** 2


@dataclass(frozen=True)
class LayerPrior:
    """One linear layer as the theory sees it: sigma_w^2 = Var(W) * fan_in, sigma_b^2, and the
    activation that follows it (None for the output layer)."""

    sigma_w2: float
    sigma_b2: float
    activation: str | None = None
    activation_params: dict[str, Any] | None = None


@dataclass(frozen=True)
class Prediction:
    q: list[float]  # pre-activation variance per hidden layer
    chi: list[float]  # per hidden layer l: sigma_{w,l+1}^2 E[phi'(z_l)^2]

    @property
    def per_layer_ratio(self) -> list[float]:
        """Predicted ||dL/dz_l|| / ||dL/dz_{l+1}|| for each hidden layer l."""
        return [math.sqrt(c) for c in self.chi]

    @property
    def log10_first_over_last(self) -> float:
        """Predicted log10 of ||dL/dz|| at layer 1 over the output layer's."""
        return float(sum(0.5 * math.log10(c) if c > 0 else float("nan") for c in self.chi)) if self.chi else 0.0

    def grad_profile(self, output_norm: float) -> list[float]:
        """Predicted ||dL/dz|| of every layer (input side first), anchored at the output's."""
        out = [output_norm]
        for r in reversed(self.per_layer_ratio):
            out.append(out[-1] * r)
        return out[::-1]


def predict(layers: list[LayerPrior], input_second_moment: float = 1.0) -> Prediction:
    """The length map and chi of every hidden layer of `layers` (the output layer last).

    `input_second_moment` is E[x_i^2] of the inputs: 1 for standardised features.
    """
    q, chi = [], []
    moment = input_second_moment
    x = nodes()
    for layer, following in itertools.pairwise(layers):
        assert layer.activation is not None
        q_l = layer.sigma_w2 * moment + layer.sigma_b2
        phi, dphi = phi_and_derivative(layer.activation, layer.activation_params, math.sqrt(q_l) * x)
        moment = gaussian_expectation(phi**2)
        q.append(q_l)
        chi.append(following.sigma_w2 * gaussian_expectation(dphi**2))
    return Prediction(q, chi)


def priors(cfg: RunConfig, n_features: int, n_outputs: int) -> list[LayerPrior]:
    """The mean-field view of a configured model: one LayerPrior per linear layer."""
    out: list[LayerPrior] = []
    fan_in = n_features
    for layer in cfg.hidden_layers:
        var = weight_variance(layer.init.name, dict(layer.init.params), fan_in, layer.width)
        sb2 = bias_variance(layer.init.bias, fan_in)
        out.append(LayerPrior(var * fan_in, sb2, layer.activation.name, dict(layer.activation.params)))
        fan_in = layer.width
    last = cfg.model.output_init or cfg.init
    var = weight_variance(last.name, dict(last.params), fan_in, n_outputs)
    out.append(LayerPrior(var * fan_in, bias_variance(last.bias, fan_in)))
    return out


def prediction_for(config: dict[str, Any]) -> Prediction:
    """The prediction for a run's resolved config (its layer shapes follow its dataset).

    NaN throughout where an init has no mean-field description (zeros, ones, constant, ...).
    """
    from annlab.job import prepare  # the data decides the first and last layer's shapes

    cfg = parse_config(config)
    data, _, _ = prepare(cfg)
    layers = priors(cfg, data.n_features, data.n_outputs)
    if not all(math.isfinite(layer.sigma_w2) for layer in layers):
        nan = [float("nan")] * (len(layers) - 1)
        return Prediction(nan, nan)
    return predict(layers)
