"""Gains that keep the backward signal alive for any activation: from the mean-field theory
(`critical`) and measured on data (`calibrated`, in the spirit of LSUV, Mishkin and Matas 2016).

Both choose each linear layer's weight scale so that the backward factor of every hidden layer,
chi_l = sigma_{w,l+1}^2 E[phi'(z_l)^2], is 1: sigma_{w,l+1}^2 = 1 / E[phi'(z_l)^2]. The first
layer keeps sigma_w^2 = 1 (LeCun's scale: the input's second moment carries into layer 1).
`critical` takes E[phi'(z_l)^2] from the length map started at the real input's second moment;
`calibrated` measures it on a batch, layer by layer.

Where the theory's assumptions break: it treats pre-activations as Gaussian with i.i.d. weights
of infinite width. Non-centred activations (sigmoid, softplus, the ReLU family) give every unit a
common mean, which the length map carries but finite layers fluctuate around; low-dimensional
inputs (2 features) make layer 1's pre-activations far from Gaussian; GELU and SiLU's derivative
changes sign, so E[phi'^2] at a layer depends on the exact distribution, not only its variance.
`calibrated` does not assume any of it: it measures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

# The init names that take their gains from here; the `_orthogonal` variants draw orthogonal
# weights (Saxe et al. 2014; Pennington et al. 2017, "Resurrecting the sigmoid") at the same scale.
CRITICAL = ("critical", "critical_orthogonal")
CALIBRATED = ("calibrated", "calibrated_orthogonal")


def _derivative_square(act: nn.Module, z: Tensor) -> float:
    """mean of phi'(z)^2 over the batch and the units, by autograd."""
    z = z.detach().double().requires_grad_(True)
    (grad,) = torch.autograd.grad(act.double()(z).sum(), z)
    act.float()
    return float(grad.square().mean())


@torch.no_grad()
def _scale(linear: nn.Linear, factor: float) -> None:
    linear.weight.mul_(factor)


REFINE_ROUNDS = 6
# Readouts averaged per round: with few output units one random readout steers the backward
# signal through a few directions, and a layer's factor then varies by +-15% (SiLU) with it.
READOUTS = 8


def backward_factors(
    linears: Sequence[nn.Linear], acts: Sequence[nn.Module], x: Tensor, readouts: Sequence[Tensor]
) -> list[float]:
    """||dF/dz_l|| / ||dF/dz_{l+1}|| over the batch for every hidden layer l, geometric mean over
    the readouts F = sum(out * r) (fixed random readouts of the output: any net, any task)."""
    zs, h = [], x
    for linear, act in zip(linears[:-1], acts, strict=True):
        z = linear(h)
        zs.append(z)
        h = act(z)
    out = linears[-1](h)
    # All readouts in one batched backward pass (vmap over the readouts).
    grads = torch.autograd.grad(out, [*zs, out], grad_outputs=torch.stack(list(readouts)), is_grads_batched=True)
    norms = torch.stack([g.double().flatten(1).norm(dim=1) for g in grads])  # [layers + 1, readouts]
    logs = torch.log(norms[:-1]) - torch.log(norms[1:])
    return torch.exp(logs.mean(dim=1)).tolist()


def calibrate(linears: Sequence[nn.Linear], acts: Sequence[nn.Module], x: Tensor, which: Sequence[bool]) -> list[float]:
    """`calibrated`: make every hidden layer's backward factor 1 on the batch `x`, measured.

    First, layer by layer forward, each marked layer l+1 (in `which`; `linears` ends with the
    output layer, every marked layer at unit scale, Var(W) = 1 / fan_in) gets sigma^2 =
    1 / mean(phi_l'(z_l)^2) on the batch. That is the mean-field rule on measured z, exact in
    expectation for one layer; over many layers examples whose signal grows in every layer
    dominate the norm (GELU at depth 50 gained 2.5 decades). So then REFINE_ROUNDS rounds
    rescale each marked layer by the measured backward factor of the layer before it, taken
    through the real backward pass of READOUTS fixed random readouts of the output (geometric
    mean). It needs the bias that conf/init/calibrated.yaml sets (0.5): with zero bias GELU's and
    SiLU's examples split at depth (per example, log10 first/last from -4.6 to +3.6 at depth 50),
    the batch's norm follows the few that grow, and these rounds oscillate instead. Returns each
    layer's gain (1 for layer 1); ValueError naming the layer where the slope is 0 or not finite."""
    x = x.detach().float()
    gains = [1.0]
    h = x
    for i, (linear, act) in enumerate(zip(linears[:-1], acts, strict=True), start=1):
        with torch.no_grad():
            z = linear(h)
        slope = _derivative_square(act, z)
        gain = 1 / math.sqrt(slope) if slope > 0 else math.inf
        if not math.isfinite(gain):
            raise ValueError(
                f"layer {i + 1} after layer {i} ({type(act).__name__}): mean phi'(z)^2 is {slope:g} on the "
                "batch, so no finite gain makes the backward factor 1"
            )
        if which[i]:
            _scale(linears[i], gain)
        gains.append(gain if which[i] else 1.0)
        with torch.no_grad():
            h = act(z)
    generator = torch.Generator().manual_seed(0)  # fixed readouts; the global RNG stream is untouched
    readouts = [
        torch.randn(len(x), linears[-1].out_features, generator=generator).to(x.device) for _ in range(READOUTS)
    ]
    for _ in range(REFINE_ROUNDS):
        factors = backward_factors(linears, acts, x, readouts)
        for i, factor in enumerate(factors, start=1):
            if which[i] and math.isfinite(factor) and factor > 0:
                _scale(linears[i], 1 / factor)
                gains[i] /= factor
    return gains


def fill(w: Tensor, gain: float = 1.0, orthogonal: bool = False) -> Tensor:
    """W with Var(W_ij) = gain^2 / fan_in: normal, or orthogonal (orthonormal rows or columns) scaled
    to that variance, so that both variants mean the same sigma_w^2 to the theory."""
    fan_out, fan_in = w.shape
    with torch.no_grad():
        if not orthogonal:
            return nn.init.normal_(w, 0.0, gain / math.sqrt(fan_in))
        nn.init.orthogonal_(w)
        return w.mul_(gain * math.sqrt(max(fan_in, fan_out) / fan_in))
