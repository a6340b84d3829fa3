"""Activations annlab does not ship: Mish, a non-monotonic one, a learnable one, and bad ones."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class Mish(nn.Module):
    """Misra 2019: x * tanh(softplus(x))."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.tanh(F.softplus(x))


def bump(x: Tensor) -> Tensor:
    """Non-monotonic and bounded: x * exp(-x^2 / 2), zero at both ends."""
    return x * torch.exp(-0.5 * x * x)


class ScaledTanh(nn.Module):
    """tanh(s x) with a learned slope s (one per layer), started at `slope`."""

    def __init__(self, slope: float = 1.0) -> None:
        super().__init__()
        self.slope = nn.Parameter(torch.tensor(float(slope)))

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(self.slope * x)


def rowsum(x: Tensor) -> Tensor:
    """Not elementwise: every unit sees its row's sum."""
    return x + x.sum(dim=-1, keepdim=True)


def halve(x: Tensor) -> Tensor:
    """Changes the shape."""
    return x[..., : x.shape[-1] // 2]


def float32_only(x: Tensor) -> Tensor:
    if x.dtype != torch.float32:
        raise TypeError("float32 only")
    return x


def blows_up(x: Tensor) -> Tensor:
    return torch.exp(x * 100)


NOT_CALLABLE = 3


def two_blobs(n: int = 200, seed: int = 0) -> tuple:
    """A user's dataset function: (X, y), two Gaussian blobs in 3 features."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return rng.normal(size=(n, 3)) + y[:, None] * 2.0, y


def ragged(n: int = 10) -> tuple:
    """X and y of different lengths."""
    import numpy as np

    return np.zeros((n, 2)), np.zeros(n + 1)
