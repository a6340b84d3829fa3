"""Mean-field signal propagation at initialisation (Poole et al. 2016; Schoenholz et al. 2017).

For an MLP whose layer-l weights are i.i.d. with variance sigma_w^2 / fan_in and biases drawn
around a constant m_l with variance sigma_b^2, a unit's pre-activation is N(m_l, q_l) over the
draw, with the length map
    q_l = sigma_w,l^2 * E_z[phi(m_{l-1} + sqrt(q_{l-1}) z)^2] + sigma_b,l^2      (z standard normal)
and the backpropagated signal shrinks or grows per layer by
    ||dL/dz_l|| / ||dL/dz_{l+1}|| = sqrt(chi_l),  chi_l = sigma_w,l+1^2 * E_z[phi'(m_l + sqrt(q_l) z)^2].
A constant bias (m, as calibrated's 0.5) shifts every unit's mean: it is not a variance.
Expectations are taken by Gauss-Hermite quadrature.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from annlab.net.activations import build_activation

if TYPE_CHECKING:
    import pandas as pd

# A dense grid on [-12, 12] weighted by the normal density, rather than Gauss-Hermite nodes: at
# large q a bounded activation's phi'(sqrt(q) z) is a peak narrower than the nodes' spacing, which
# Gauss-Hermite misses (tanh's chi at gain 30 read 0). An even count: no node at 0, where the
# ReLU family's derivative jumps (symmetric nodes then give exactly 1/2).
QUADRATURE_POINTS = 6_000
_NODES = np.linspace(-12.0, 12.0, QUADRATURE_POINTS)
_WEIGHTS = np.exp(-0.5 * _NODES**2)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()  # sum(w * f(x)) = E[f(z)], z ~ N(0, 1)


def gaussian_expectation(f: np.ndarray) -> float:
    """E[f(z)] for f evaluated at the quadrature nodes (`nodes()`)."""
    return float(np.dot(_WEIGHTS, f))


def nodes() -> np.ndarray:
    return _NODES


def one_unit(module: torch.nn.Module, t: torch.Tensor) -> torch.Tensor:
    """module(t) elementwise, for any shape of t. A module with a parameter per unit (PReLU's
    num_parameters) sees t as one unit's column: its parameters all start equal."""
    units = max((p.numel() for p in module.parameters()), default=1)
    if units == 1:
        return module(t)
    return module(t.reshape(-1, 1).expand(-1, units))[:, 0].reshape(t.shape)


def phi_and_derivative(activation: str, params: dict[str, Any] | None, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """phi(x) and phi'(x) of the registered activation, by autograd in float64."""
    module = build_activation(activation, params).double()
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    a = one_unit(module, t)
    (da,) = torch.autograd.grad(a.sum(), t)
    return a.detach().numpy(), da.numpy()


@dataclass(frozen=True)
class LayerPrior:
    """One linear layer as the theory sees it: sigma_w^2 = Var(W) * fan_in, sigma_b^2 = Var(b), the
    activation that follows it (None for the output layer) and the biases' mean m."""

    sigma_w2: float
    sigma_b2: float
    activation: str | None = None
    activation_params: dict[str, Any] | None = None
    bias_mean: float = 0.0


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
        phi, dphi = phi_and_derivative(layer.activation, layer.activation_params, layer.bias_mean + math.sqrt(q_l) * x)
        moment = gaussian_expectation(phi**2)
        q.append(q_l)
        chi.append(following.sigma_w2 * gaussian_expectation(dphi**2))
    return Prediction(q, chi)


def network_priors(network: pd.DataFrame) -> tuple[list[LayerPrior], float]:
    """One run's network table (network.parquet, as recorded or as the job builds it) as the theory
    sees it, the output layer last, and the input second moment it starts from."""
    rows = network.sort_values("layer")
    if "bias_mean" not in rows:
        # Stores from before the mean: a constant bias was recorded as variance b^2.
        constant = rows.bias.map(lambda b: float(b) if b != "default" else 0.0)
        rows = rows.assign(bias_mean=constant, sigma_b2=rows.sigma_b2.where(rows.bias == "default", 0.0))
    last = int(rows.layer.max())
    layers = [
        LayerPrior(
            float(r.sigma_w2),
            float(r.sigma_b2),
            None if int(r.layer) == last else str(r.activation),
            None if int(r.layer) == last else json.loads(r.activation_params),
            float(r.bias_mean),
        )
        for r in rows.itertuples()
    ]
    return layers, float(rows.input_second_moment.iloc[0])


def prediction_for(layers: list[LayerPrior], input_second_moment: float) -> Prediction:
    """The prediction for a recorded network (its `network.parquet` rows as LayerPriors): NaN
    throughout where an init has no mean-field description (zeros, ones, constant, ...)."""
    if not all(math.isfinite(layer.sigma_w2) for layer in layers):
        nan = [float("nan")] * (len(layers) - 1)
        return Prediction(nan, nan)
    return predict(layers, input_second_moment)


def moments(activation: str, params: dict[str, Any] | None, q: float, mean: float = 0.0) -> tuple[float, float]:
    """E[phi(z)^2] and E[phi'(z)^2] for z ~ N(mean, q)."""
    phi, dphi = phi_and_derivative(activation, params, mean + math.sqrt(max(q, 0.0)) * nodes())
    return gaussian_expectation(phi**2), gaussian_expectation(dphi**2)


# Where fixed points are searched: beyond 1e4 the quadrature cannot resolve phi' of a bounded
# activation (its peak is narrower than the nodes' spacing times sqrt(q)).
Q_GRID = np.geomspace(1e-10, 1e4, 71)


def fixed_point(activation: str, params: dict[str, Any] | None, sigma_w2: float, sigma_b2: float = 0.0) -> float:
    """q* of the length map q -> sigma_w2 E[phi(sqrt(q) z)^2] + sigma_b2 (the largest stable one);
    0 where the map shrinks every q (tanh below its critical gain), inf where it grows every q
    (the ReLU family above sqrt(2))."""
    phi, _ = phi_and_derivative(activation, params, np.sqrt(Q_GRID)[:, None] * nodes()[None, :])
    gap = sigma_w2 * (phi**2 @ _WEIGHTS) + sigma_b2 - Q_GRID
    above = np.flatnonzero(gap > 0)
    if not len(above):
        return 0.0
    i = int(above[-1])
    if i == len(Q_GRID) - 1:
        return math.inf
    lo, hi = Q_GRID[i], Q_GRID[i + 1]
    for _ in range(40):  # bisection on log q: gap(lo) > 0 >= gap(hi)
        mid = math.sqrt(lo * hi)
        if sigma_w2 * moments(activation, params, mid)[0] + sigma_b2 - mid > 0:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi)


def chi_at_fixed_point(activation: str, params: dict[str, Any] | None, gain: float) -> float:
    """chi = gain^2 E[phi'(sqrt(q*) z)^2] at the fixed point of the length map (zero bias)."""
    q = min(max(fixed_point(activation, params, gain**2), Q_GRID[0]), Q_GRID[-1])
    return gain**2 * moments(activation, params, q)[1]


GAIN_RANGE = (0.1, 30.0)


def critical_gain(activation: str, params: dict[str, Any] | None = None) -> float:
    """The gain (weights N(0, gain^2 / fan_in), zero bias) at which chi = 1 at the length map's
    fixed point: sqrt(2) for relu, 1 for tanh (the README's table has the others). Where chi
    jumps across 1 (GELU, SiLU, softplus: their fixed point leaps from 0 to infinity at sqrt(2))
    this is the gain of the jump. ValueError where no gain in GAIN_RANGE reaches chi = 1."""
    lo, hi = GAIN_RANGE
    if not chi_at_fixed_point(activation, params, lo) < 1 <= chi_at_fixed_point(activation, params, hi):
        raise ValueError(f"activation={activation!r}: no gain in [{lo:g}, {hi:g}] makes chi = 1 at the fixed point")
    for _ in range(40):
        mid = math.sqrt(lo * hi)
        if chi_at_fixed_point(activation, params, mid) < 1:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi)


def critical_gains(
    activations: list[tuple[str, dict[str, Any] | None]],
    input_second_moment: float,
    sigma_b2: float = 0.0,
    bias_mean: float = 0.0,
) -> list[float]:
    """Per-layer gains (one per linear layer, the output layer last) that make every hidden layer's
    predicted backward factor chi_l = 1, from the length map started at the real input's second
    moment (biases N(bias_mean, sigma_b2)): layer 1 keeps gain 1; layer l+1 gets
    1 / sqrt(E[phi_l'(z_l)^2]). ValueError naming the layer where that is not finite."""
    if not activations:
        raise ValueError("a model without hidden layers has no backward factor to make 1 (depth 0)")
    gains, moment = [1.0], input_second_moment
    for i, (activation, params) in enumerate(activations, start=1):
        q = gains[-1] ** 2 * moment + sigma_b2
        moment, slope = moments(activation, params, q, bias_mean)
        gain = 1 / math.sqrt(slope) if slope > 0 else math.inf
        if not math.isfinite(gain) or not math.isfinite(moment):
            raise ValueError(
                f"layer {i + 1} after layer {i} ({activation}): E[phi'(z)^2] = {slope:g} at q = {q:g}, "
                "no finite gain makes the backward factor 1"
            )
        gains.append(gain)
    return gains


def critical_line(
    activations: list[tuple[str, dict[str, Any] | None]], q_star: float, input_second_moment: float
) -> list[tuple[float, float]]:
    """(sigma_w^2, sigma_b^2) of every linear layer (the output layer last) that put a net on its
    critical line at q*: every hidden pre-activation has variance q* and chi = 1 there, so
    sigma_w^2 = 1 / E[phi'(z)^2] and sigma_b^2 = q* - sigma_w^2 E[phi(z)^2] with z ~ N(0, q*), each
    from the activation the layer follows; layer 1 takes the first activation's sigma_b^2 and the
    sigma_w^2 that brings the input's second moment to q*. ValueError where sigma_b^2 would be
    negative (no critical line at that q*: sigmoid's mean alone exceeds small q*)."""
    if not activations:
        raise ValueError("a model without hidden layers has no critical line (depth 0)")
    if not q_star > 0:
        raise ValueError(f"q_star={q_star:g}: the variance q* must be > 0")
    out = []
    for i, (activation, params) in enumerate(activations, start=1):
        square, slope = moments(activation, params, q_star)
        sigma_w2 = 1 / slope if slope > 0 else math.inf
        sigma_b2 = q_star - sigma_w2 * square
        if sigma_b2 < -1e-12 * q_star or not math.isfinite(sigma_w2):
            raise ValueError(
                f"layer {i + 1} after layer {i} ({activation}): no critical line at q*={q_star:g}: chi = 1 needs "
                f"sigma_w^2 = {sigma_w2:g}, which makes the variance {sigma_w2 * square:g} > q* without any bias"
            )
        out.append((sigma_w2, max(sigma_b2, 0.0)))
    first_b2 = out[0][1]
    if not input_second_moment > 0:
        raise ValueError("the inputs' second moment is 0: no first-layer scale brings it to q*")
    return [((q_star - first_b2) / input_second_moment, first_b2), *out]
