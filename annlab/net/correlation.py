"""The correlation map of mean-field theory (Poole et al. 2016; Schoenholz et al. 2017).

Two examples' pre-activations at a layer, both of variance q and with cosine c, give the next
layer's cosine
    c' = (sigma_w^2 E[phi(u_1) phi(u_2)] + sigma_b^2) / q',   q' = sigma_w^2 E[phi(u)^2] + sigma_b^2,
u_1, u_2 ~ N(0, q) with correlation c. By Mehler's formula E[phi(u_1) phi(u_2)] = sum_k a_k^2 c^k,
with a_k the coefficients of phi(sqrt(q) z) in the orthonormal Hermite functions: one
one-dimensional quadrature gives the whole map, for every pair of a batch at once. Its slope at
a fixed point c* is chi_c = sigma_w^2 E[phi'(u_1) phi'(u_2)] (Price's theorem), and the depth
over which c approaches c* is xi_c = -1 / ln(chi_c).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from annlab.net.activations import build_activation
from annlab.net.theory import LayerPrior, fixed_point, gaussian_expectation, moments, nodes, one_unit

# Terms of Mehler's series kept; the rest of sum_k a_k^2 (known exactly: E[phi^2]) is put on the
# last power, so the map is exact at c = 1 and its error elsewhere is the tail's, at most
# c^TERMS times it (ReLU's a_k^2 fall as k^-2.5: the tail is 3e-4 of E[phi^2] at 160 terms).
TERMS = 160


def _weighted_hermite() -> np.ndarray:
    """He_k(x) / sqrt(k!) at the quadrature nodes times their normal weights, k < TERMS (the
    stable three-term recursion): a_k = this @ phi(nodes)."""
    x = nodes()
    out = np.empty((TERMS, len(x)))
    out[0], out[1] = 1.0, x
    for k in range(1, TERMS - 1):
        out[k + 1] = (x * out[k] - math.sqrt(k) * out[k - 1]) / math.sqrt(k + 1)
    weights = np.exp(-0.5 * x**2)
    return out * (weights / weights.sum())


_HERMITE: np.ndarray | None = None


def _phi(activation: str, params: dict[str, Any] | None, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return one_unit(build_activation(activation, params).double(), torch.from_numpy(x)).numpy()


def mehler_coefficients(activation: str, params: dict[str, Any] | None, q: float, mean: float = 0.0) -> np.ndarray:
    """a_k^2 for k < TERMS (phi(m + sqrt(q) z) = sum_k a_k He_k(z) / sqrt(k!)), the last entry also
    holding the rest of E[phi^2], so that the coefficients sum to E[phi(m + sqrt(q) z)^2]."""
    global _HERMITE
    if _HERMITE is None:
        _HERMITE = _weighted_hermite()
    phi = _phi(activation, params, mean + math.sqrt(max(q, 0.0)) * nodes())
    squares = (_HERMITE @ phi) ** 2
    squares[-1] += max(gaussian_expectation(phi**2) - squares.sum(), 0.0)
    return squares


def mehler(squares: np.ndarray, c: np.ndarray | float) -> np.ndarray:
    """E[phi(u_1) phi(u_2)] at cosine(s) c: sum_k a_k^2 c^k, in float64 (the powers by a running
    product: one matrix product, not a Python loop over the terms)."""
    c = np.atleast_1d(np.asarray(c, dtype=np.float64))
    powers = np.cumprod(np.broadcast_to(c[:, None], (len(c), len(squares) - 1)), axis=1)
    return squares[0] + powers @ squares[1:]


# Pairs are carried through the layers as equal-count bins of their layer-1 cosines (each bin's
# mean): exact for the first layer's mean, and within 1e-4 of every pair carried alone (tested);
# 8,128 pairs of a 128-example probe batch would cost ~3 ms a layer.
BINS = 256


def input_cosines(x: Tensor, first: LayerPrior, centred: bool = True) -> np.ndarray:
    """Every pair's expected cosine of layer-1 pre-activations (i < j), from the inputs themselves:
    (sigma_w^2 x_i.x_j / d + sigma_b^2) over the product of the two lengths; of their deviations
    from the biases' mean m (centred), or of the pre-activations themselves (adding m^2)."""
    x64 = x.detach().cpu().double().numpy()
    second = first.sigma_w2 * (x64 @ x64.T) / x.shape[1] + first.sigma_b2 + (0.0 if centred else first.bias_mean**2)
    length = np.sqrt(np.clip(second.diagonal(), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = second / np.outer(length, length)
    i, j = np.triu_indices(len(x), k=1)
    return np.clip(np.nan_to_num(cos[i, j], nan=1.0), -1.0, 1.0)  # two zero-length rows: alike


def binned(values: np.ndarray, bins: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The means of equal-count bins (BINS) of the sorted values, and each bin's share of them."""
    ordered = np.sort(values)
    count = min(bins or BINS, len(ordered))
    starts = np.unique(np.linspace(0, len(ordered), count + 1).astype(int)[:-1])
    counts = np.diff(np.append(starts, len(ordered)))
    return np.add.reduceat(ordered, starts) / counts, counts / len(ordered)


def predicted_example_cosine(layers: list[LayerPrior], input_second_moment: float, x: Tensor) -> list[float]:
    """The mean pairwise cosine of every hidden layer's pre-activations over the examples x: each
    pair's layer-1 cosine from its inputs, then the map of each layer at that layer's q from the
    length map (the examples taken to share one length, as in Poole et al.), averaged over pairs
    at every layer (not the map of the mean). `layers` ends with the output layer, whose entry is
    NaN: its few units are far from the wide limit (one logit's cosine is +-1). NaN throughout
    where the init has no mean-field description; 1.0 for a single example's no pairs. The map
    carries the deviations from the biases' mean m; the cosine measured is of the pre-activations
    themselves, (q c + m^2) / (q + m^2)."""
    hidden = len(layers) - 1
    if not hidden or not all(math.isfinite(layer.sigma_w2) for layer in layers):
        return [float("nan")] * len(layers)
    if len(x) < 2:
        return [1.0] * hidden + [float("nan")]
    c, share = binned(input_cosines(x, layers[0]))
    q = layers[0].sigma_w2 * input_second_moment + layers[0].sigma_b2
    out = [float(input_cosines(x, layers[0], centred=False).mean())]
    for layer, following in itertools.pairwise(layers[:-1]):
        assert layer.activation is not None
        squares = mehler_coefficients(layer.activation, layer.activation_params, q, layer.bias_mean)
        q_next = following.sigma_w2 * float(squares.sum()) + following.sigma_b2
        if not q_next > 0:  # every pre-activation is 0 or m: all alike (the probe's rule for zero rows)
            c = np.ones_like(c)
        else:
            c = np.clip((following.sigma_w2 * mehler(squares, c) + following.sigma_b2) / q_next, -1.0, 1.0)
        q, m2 = q_next, following.bias_mean**2
        out.append(float(share @ ((q * c + m2) / (q + m2))) if q + m2 > 0 else 1.0)
    return [*out, float("nan")]


# chi_c this close to 1 is 1 (the ReLU family's slope at c* = 1 is 1 up to the quadrature's rounding)
CRITICAL_TOLERANCE = 1e-9


@dataclass(frozen=True)
class DepthScale:
    """The correlation map at the length map's fixed point q*: its stable fixed point c*, its
    slope chi_c there, and the depth scale xi_c = -1 / ln(chi_c) (inf at chi_c = 1)."""

    q_star: float
    c_star: float
    chi_c: float

    @property
    def xi_c(self) -> float:
        if self.chi_c >= 1 - CRITICAL_TOLERANCE:  # at or across the critical line: no exponential approach
            return math.inf
        return -1.0 / math.log(self.chi_c) if self.chi_c > 0 else 0.0


def _homogeneous(activation: str, params: dict[str, Any] | None) -> bool:
    """phi(2x) = 2 phi(x) on the quadrature nodes: the ReLU family and identity."""
    phi, twice = _phi(activation, params, nodes()), _phi(activation, params, 2 * nodes())
    return bool(np.allclose(twice, 2 * phi, rtol=1e-9, atol=1e-12))


def _slope(squares: np.ndarray, c: float) -> float:
    """d/dc sum_k a_k^2 c^k."""
    k = np.arange(len(squares))
    return float(np.sum(k[1:] * squares[1:] * c ** (k[1:] - 1)))


def depth_scale(
    activation: str, params: dict[str, Any] | None, sigma_w2: float, sigma_b2: float = 0.0
) -> DepthScale | None:
    """c*, chi_c and xi_c at the fixed point q* of a deep net of one activation, weights of variance
    sigma_w2 / fan_in and biases sigma_b2 (Schoenholz et al. 2017). None where q* is 0 or
    infinite: there the signal dies or grows without bound and no correlation is defined."""
    q = fixed_point(activation, params, sigma_w2, sigma_b2)
    if not 0 < q < math.inf:
        # A positively homogeneous phi (the ReLU family, identity) without bias: q grows or shrinks
        # geometrically, or stays wherever it starts, but the correlation map does not depend on q.
        if sigma_b2 != 0 or not _homogeneous(activation, params):
            return None
        q = 1.0
    squares = mehler_coefficients(activation, params, q)
    q_next = sigma_w2 * float(squares.sum()) + sigma_b2

    def step(c: float) -> float:
        return (sigma_w2 * float(mehler(squares, c)[0]) + sigma_b2) / q_next

    # chi_1 = the slope at c = 1: below 1, c* = 1 is stable (ordered); above, c* < 1 (chaotic),
    # found by bisection on step(c) - c, which is negative just below 1 and positive at c = 0.
    # (the series' slope converges slowly at c = 1 for a kinked phi; the quadrature's does not)
    chi_1 = sigma_w2 * q * moments(activation, params, q)[1] / q_next
    if chi_1 <= 1:
        return DepthScale(q, 1.0, chi_1)
    lo, hi = 0.0, 1.0 - 1e-9
    if step(lo) - lo <= 0:  # an odd map whose fixed point lies at 0 or below it
        lo = -1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if step(mid) - mid > 0:
            lo = mid
        else:
            hi = mid
    c_star = (lo + hi) / 2
    return DepthScale(q, c_star, sigma_w2 * _slope(squares, c_star) / q_next)


def critical_sigma_w2(
    activation: str, params: dict[str, Any] | None, sigma_b2: float, bounds: tuple[float, float] = (0.1, 30.0)
) -> float:
    """The sigma_w^2 at which chi_1 = sigma_w^2 E[phi'(z)^2] at the fixed point q* crosses 1 (the
    order-to-chaos line, Schoenholz et al. 2017; ~1.76 for tanh at sigma_b^2 = 0.05), by bisection
    on log sigma_w^2; ValueError where chi_1 does not cross 1 within `bounds`."""

    def chi_1(sigma_w2: float) -> float:
        q = min(max(fixed_point(activation, params, sigma_w2, sigma_b2), 1e-10), 1e4)
        return sigma_w2 * moments(activation, params, q)[1]

    lo, hi = bounds
    if not chi_1(lo) < 1 <= chi_1(hi):
        raise ValueError(f"activation={activation!r}: chi_1 does not cross 1 for sigma_w^2 in [{lo:g}, {hi:g}]")
    for _ in range(50):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if chi_1(mid) < 1 else (lo, mid)
    return math.sqrt(lo * hi)
