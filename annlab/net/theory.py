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

from annlab.net.activations import build_activation

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


def prediction_for(layers: list[LayerPrior], input_second_moment: float) -> Prediction:
    """The prediction for a recorded network (its `network.parquet` rows as LayerPriors): NaN
    throughout where an init has no mean-field description (zeros, ones, constant, ...)."""
    if not all(math.isfinite(layer.sigma_w2) for layer in layers):
        nan = [float("nan")] * (len(layers) - 1)
        return Prediction(nan, nan)
    return predict(layers, input_second_moment)
