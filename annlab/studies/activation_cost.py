"""Study activation_cost: the check of its finding (the grid is experiments/activation_cost.yaml)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from annlab.studies.common import Study, Verdict, need

if TYPE_CHECKING:
    import pandas as pd

    from annlab.read.store import Frames

FINDING = (
    "the seed's 'ReLU is cheaper to compute than sigmoid': a training step of the same net costs less "
    "with relu than with sigmoid (the fastest of each activation's runs, train_seconds per step)"
)


def step_ms(frames: Frames) -> pd.Series:
    """Milliseconds per training step per activation: the fastest of its runs (seeds). Other load
    on the machine only ever adds time, and the sweep's first job pays one-off imports, so the
    minimum is the estimate of what the step itself costs."""
    runs = frames.usable.dropna(subset=["train_seconds", "steps"])
    runs = runs[runs.steps > 0]
    return (1000 * runs.train_seconds / runs.steps).groupby(runs.activation).min()


def elementwise_ratio(name: str, shape: tuple[int, int] = (1024, 256), repeats: int = 200) -> float:
    """The activation's own forward + backward time over relu's, on one tensor of `shape`, timed
    here, interleaved (what the per-step times dilute with the matrix products)."""
    import torch

    from annlab.net.activations import build_activation

    x = torch.randn(*shape, requires_grad=True)
    fns = {n: build_activation(n) for n in ("relu", name)}
    best = {n: float("inf") for n in fns}
    for _ in range(5):
        for n, fn in fns.items():
            tic = time.perf_counter()
            for _ in range(repeats):
                fn(x).sum().backward()
            best[n] = min(best[n], time.perf_counter() - tic)
    return best[name] / best["relu"]


def check(frames: Frames) -> Verdict:
    need(frames, activation=["relu", "sigmoid"])
    v = Verdict()
    ms = step_ms(frames)
    relu, sig = float(ms["relu"]), float(ms["sigmoid"])
    others = ", ".join(f"{a} {t / relu:.2f}x" for a, t in ms.items() if a != "relu")
    v.add("per-step time against relu's (runs)", f"relu {relu:.2f} ms; {others}", "(reported)", True)
    v.add(
        "a training step: relu against sigmoid",
        f"{relu:.2f} ms against {sig:.2f} ms ({sig / relu - 1:+.1%} for sigmoid)",
        "relu cheaper",
        relu < sig,
    )
    v.add(
        "the activation alone, forward + backward on 1024 x 256 (timed by this check)",
        f"sigmoid {elementwise_ratio('sigmoid'):.2f}x relu's time",
        "(reported)",
        True,
    )
    return v


STUDY = Study("activation_cost", FINDING, check)
