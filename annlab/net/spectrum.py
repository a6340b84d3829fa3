"""The input-output Jacobian's singular values and their mean-field moments (Pennington,
Schoenholz and Ganguli 2017, 2018).

J maps the first hidden layer's pre-activation to the last's: J = W_L D_{L-1} ... W_2 D_1, with
D_l = diag(phi'(z_l)), L - 1 factors. Free probability gives the moments of JJ^T's eigenvalues:
their mean is the product of the per-layer chi_l = sigma_{w,l+1}^2 E[phi'(z_l)^2], and, since a
product of free factors adds their normalised variances (Var / mean^2), their variance is
    mean^2 * sum_l (mu_2,l / mu_1,l^2 - 1 - s_1),   mu_k,l = E[phi'(z_l)^(2k)],
s_1 = -1 for Gaussian weights and 0 for orthogonal ones: at chi = 1, L (mu_2 / mu_1^2 - 1 - s_1).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from annlab.net.theory import LayerPrior, gaussian_expectation, nodes, phi_and_derivative, predict


def singular_values(linears: Sequence[nn.Linear], acts: Sequence[nn.Module], x: Tensor) -> Tensor:
    """Per example of x, the singular values of dz_L / dz_1 (the last hidden layer's pre-activation
    against the first's), [examples, width of layer L], descending, all in float64. `linears`
    ends with the output layer (not part of J); a net of one hidden layer has J = I."""
    hidden = list(linears[:-1])
    z = F.linear(x.double(), hidden[0].weight.double(), _bias(hidden[0]))
    jac = torch.eye(z.shape[1], dtype=torch.float64, device=z.device).expand(len(x), -1, -1)
    for linear, act in zip(hidden[1:], acts, strict=False):
        phi = copy.deepcopy(act).double()  # the model's own modules stay float32
        t = z.detach().requires_grad_(True)
        a = phi(t)
        (slope,) = torch.autograd.grad(a.sum(), t)  # phi'(z_l), elementwise
        weight = linear.weight.detach().double()
        jac = weight @ (slope[:, :, None] * jac)  # W_{l+1} D_l J
        z = F.linear(a.detach(), weight, _bias(linear))
    return torch.linalg.svdvals(jac)


def _bias(linear: nn.Linear) -> Tensor | None:
    return linear.bias.detach().double() if linear.bias is not None else None


def moments(activation: str, params: dict[str, Any] | None, q: float, mean: float = 0.0) -> tuple[float, float]:
    """mu_1 = E[phi'(z)^2] and mu_2 = E[phi'(z)^4] for z ~ N(mean, q)."""
    _, dphi = phi_and_derivative(activation, params, mean + math.sqrt(max(q, 0.0)) * nodes())
    return gaussian_expectation(dphi**2), gaussian_expectation(dphi**4)


def predicted(chi: Sequence[float], mu: Sequence[tuple[float, float]], orthogonal: bool) -> tuple[float, float]:
    """The mean and variance of JJ^T's eigenvalues from each factor's chi_l and (mu_1, mu_2)."""
    s_1 = 0.0 if orthogonal else -1.0
    mean = float(np.prod(chi)) if len(chi) else 1.0
    spread = sum(m2 / m1**2 - 1.0 - s_1 for m1, m2 in mu if m1 > 0)
    return mean, mean**2 * spread


def predicted_for(layers: Sequence[LayerPrior], input_second_moment: float, orthogonal: bool) -> tuple[float, float]:
    """The theory's mean and variance of JJ^T's eigenvalues for a net (`layers`, the output layer
    last) fed inputs of that second moment: each factor's chi and moments at its layer's q from
    the length map. NaN where an init has no mean-field description."""
    if not all(math.isfinite(layer.sigma_w2) for layer in layers):
        return math.nan, math.nan
    prediction = predict(list(layers), input_second_moment)
    mu = [
        moments(layer.activation or "", layer.activation_params, q, layer.bias_mean)
        for layer, q in zip(layers[:-2], prediction.q, strict=False)
    ]
    return predicted(prediction.chi[:-1], mu, orthogonal)
