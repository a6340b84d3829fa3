"""Glorot-style pages: each hidden layer's histogram overlaid (colour = layer), at initialisation and at the end."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, LogLocator, MaxNLocator, NullLocator

from annlab.read.figures import PAGE, plt
from annlab.read.layer_distributions import GROUP

COMBOS_PER_PAGE = 6  # activation x init x depth per page, each as an init | end pair of panels


def _decade_ticks(lo: float, hi: float, smallest: int, most: int = 2) -> list[float]:
    """Symmetric-log ticks between lo and hi: 0 and at most `most` powers of ten on each side,
    from 10**smallest up."""
    ticks: list[float] = [0.0] if lo <= 0 <= hi else []
    for sign, top in ((1.0, hi), (-1.0, -lo)):
        if top <= 10.0**smallest:
            continue
        exps = list(range(smallest, math.floor(math.log10(top)) + 1))
        step = max(1, math.ceil(len(exps) / most))
        ticks += [sign * 10.0**e for e in exps[::-step]]
    return sorted(ticks)


def _x_range(part: pd.DataFrame) -> tuple[float, float]:
    """The span of the bins holding any of the values (at least 0.1% of a layer's), one bin wider."""
    held = part[part.share > 1e-3]
    if held.empty:
        held = part
    return float(held.lo.min()), float(held.hi.max())


def _share(x: float) -> str:
    return f"{x:.0%}" if x >= 0.01 else f"{x:.1%}"


def _panel(ax: plt.Axes, part: pd.DataFrame, depth_max: int, cmap: object) -> None:
    """One panel: a step line per layer. A log scheme's central bin (|v| below its smallest
    magnitude: exact zeros, a dead ReLU half) sits decades away from the rest: its share is
    written on the panel, and drawn only when it holds (nearly) every value."""
    scheme = str(part.bins.iloc[0])
    central = part[part.central]
    rest = part[~part.central]
    if rest.groupby("layer").share.sum().max() > 1e-3:
        part = rest
    if len(central) and central.share.max() > 1e-3:
        lo, hi = central.share.min(), central.share.max()
        shares = _share(lo) if round(lo, 2) == round(hi, 2) else f"{_share(lo)} to {_share(hi)}"
        ax.text(0.02, 0.96, f"|v| < {central.hi.max():.0e}: {shares}", transform=ax.transAxes, fontsize=6, va="top")
    for layer, rows in part.groupby("layer"):
        rows = rows.sort_values("bin")
        x = np.repeat(np.r_[rows.lo.to_numpy(), rows.hi.iloc[-1]], 2)[1:-1]
        y = np.repeat(rows.share.to_numpy(), 2)
        ax.plot(x, y, color=cmap((int(layer) - 1) / max(depth_max - 1, 1)), linewidth=1.0)  # type: ignore[operator]
    lo, hi = _x_range(part)
    if scheme.startswith("mag:"):
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(numticks=5))
        ax.xaxis.set_minor_locator(NullLocator())  # decades of minor ticks cost seconds to lay out
    elif scheme.startswith("slog:"):
        smallest = int(scheme.split(":")[1])  # the central bin is |v| < 10**smallest: symlog's linear part
        ax.set_xscale("symlog", linthresh=10.0**smallest, linscale=0.25)
        ax.xaxis.set_major_locator(FixedLocator(_decade_ticks(lo, hi, smallest)))
        ax.xaxis.set_minor_locator(NullLocator())  # decades of minor ticks cost seconds to lay out
    ax.set_xlim(lo, hi)
    ax.set_ylim(bottom=0)
    ax.tick_params(labelsize=6)


def _frame_page(fig: Figure, frame: pd.DataFrame, title: str, xlabel: str, cmap: object) -> None:
    """The page's title (with how many runs its panels sum), axis labels and layer colour bar."""
    runs = sorted(set(frame.runs))
    rests = (
        (f"{runs[0]} run" if runs == [1] else f"{runs[0]} runs") if len(runs) == 1 else f"{runs[0]} to {runs[-1]} runs"
    )
    note = (
        f"counts summed over the {rests} of each panel (seeds, datasets and every other swept value pooled); "
        "colour = hidden layer, dark = input side"
    )
    fig.suptitle(
        "\n".join(textwrap.fill(part, 120) for part in (title, note)),
        fontsize=10,
        fontweight="bold",
    )
    fig.supxlabel(xlabel, fontsize=9)
    fig.supylabel("share of the layer's values per bin", fontsize=9)
    fig.tight_layout(rect=(0.02, 0.02, 0.9, 0.92))
    bar = fig.add_axes((0.92, 0.15, 0.015, 0.7))
    fig.colorbar(plt.cm.ScalarMappable(plt.Normalize(1, max(int(frame.depth.max()), 2)), cmap=cmap), cax=bar)  # type: ignore[arg-type]
    bar.set_ylabel("hidden layer")
    bar.yaxis.set_major_locator(MaxNLocator(integer=True))


def pages(frame: pd.DataFrame, title: str, xlabel: str) -> list[Figure]:
    """A page per COMBOS_PER_PAGE activation x init x depth of a tidy histogram frame
    (annlab.read.layer_distributions.tidy with when in {init, end})."""
    combos = frame[GROUP].drop_duplicates().sort_values(GROUP).itertuples(index=False)
    combos = list(combos)
    cmap = plt.get_cmap("viridis")
    depth_max = int(frame.depth.max())
    out = []
    for start in range(0, len(combos), COMBOS_PER_PAGE):
        chunk = combos[start : start + COMBOS_PER_PAGE]
        rows = math.ceil(len(chunk) / 2)
        cols = 4 if len(chunk) > 1 else 2
        fig, axes = plt.subplots(rows, cols, figsize=PAGE, squeeze=False)
        for k, (activation, init, depth) in enumerate(chunk):
            for j, when in enumerate(("init", "end")):
                ax = axes[k // 2, (k % 2) * 2 + j]
                part = frame[
                    (frame.activation == activation)
                    & (frame.init == init)
                    & (frame.depth == depth)
                    & (frame.when == when)
                ]
                if part.empty:
                    ax.set_visible(False)
                    continue
                first, last = int(part.first_step.iloc[0]), int(part.step.iloc[0])
                step = "step 0" if when == "init" else f"step {last}" if first == last else f"steps {first}-{last}"
                ax.set_title(f"{activation} + {init}, depth {depth}: {step}", fontsize=7.5)
                _panel(ax, part, depth_max, cmap)
        for ax in axes.flat[len(chunk) * 2 :]:
            ax.set_visible(False)
        more = f" (page {start // COMBOS_PER_PAGE + 1} of {math.ceil(len(combos) / COMBOS_PER_PAGE)})"
        _frame_page(fig, frame, title + (more if len(combos) > COMBOS_PER_PAGE else ""), xlabel, cmap)
        out.append(fig)
    return out
