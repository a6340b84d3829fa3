"""Figures from aggregated frames (annlab.analysis); each function returns a matplotlib Figure."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable

import matplotlib

matplotlib.use("Agg")  # reports are files; no display needed
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

PAGE = (11.0, 8.5)  # landscape letter, inches
plt.rcParams.update({"pdf.fonttype": 42, "ps.fonttype": 42})  # real text in the PDF, searchable


def _palette(names: Iterable[str]) -> dict[str, tuple[float, float, float]]:
    names = sorted(set(names))
    return dict(zip(names, sns.color_palette("colorblind", max(len(names), 1)), strict=False))


def _layer_colours(n: int) -> list[tuple[float, float, float]]:
    # viridis is perceptually uniform and readable with colour-vision deficiencies
    return sns.color_palette("viridis", max(n, 1))


def _grid(rows: int, cols: int, title: str, sharey: bool = True) -> tuple[Figure, np.ndarray]:
    fig, axes = plt.subplots(rows, cols, figsize=PAGE, squeeze=False, sharex=False, sharey=sharey)
    fig.suptitle(title, fontsize=14, fontweight="bold")
    return fig, axes


def _legend(fig: Figure, axes: np.ndarray, title: str) -> None:
    handles, labels = {}, {}
    for ax in axes.flat:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
            labels[label] = label
    if handles:
        fig.legend(
            handles.values(), labels.values(), title=title, loc="center left", bbox_to_anchor=(0.87, 0.5), frameon=False
        )
    fig.tight_layout(rect=(0, 0, 0.86 if handles else 1, 0.93))


def _band(ax: plt.Axes, x: pd.Series, part: pd.DataFrame, colour: object, label: str, log: bool = False) -> None:
    mean, lo, hi = part["mean"], part["lo"], part["hi"]
    if log:  # a log axis cannot show a band that reaches zero or below
        lo = lo.where(lo > 0, mean / 10)
    ax.plot(x, mean, marker="o", markersize=3, color=colour, label=label)
    ax.fill_between(x, lo, hi, color=colour, alpha=0.2, linewidth=0)


MAX_DEPTH_PANELS = 4


def _spread(values: list[int], n: int) -> list[int]:
    """At most `n` of the sorted `values`, spread from the first to the last."""
    if len(values) <= n:
        return values
    return [values[int(i)] for i in np.unique(np.round(np.linspace(0, len(values) - 1, n)))]


def gradient_flow(agg: pd.DataFrame, when: str, theory: pd.DataFrame | None = None) -> Figure:
    """grad_z_norm per layer (input side left, log y), a line per activation, facets init x depth
    (at most MAX_DEPTH_PANELS depths, spread over the grid); with `theory`, the mean-field
    prediction as a dashed line of the same colour."""
    inits, all_depths = sorted(agg.init.unique()), sorted(int(d) for d in agg.depth.unique())
    depths = _spread(all_depths, MAX_DEPTH_PANELS)
    shown = "" if depths == all_depths else f"; depths {', '.join(map(str, depths))} of {len(all_depths)}"
    dashed = "; dashed: mean-field prediction" if theory is not None and not theory.empty else ""
    fig, axes = _grid(
        len(inits),
        len(depths),
        f"Gradient flow at {when}: ||dL/dz|| per layer\n(geometric mean over seeds, 95% interval{dashed}{shown})",
    )
    colours = _palette(agg.activation)
    for i, init in enumerate(inits):
        for j, depth in enumerate(depths):
            ax = axes[i, j]
            cell = agg[(agg.init == init) & (agg.depth == depth)]
            for activation, part in cell.groupby("activation"):
                part = part.sort_values("layer")
                _band(ax, part.layer, part, colours[activation], activation, log=True)
            if dashed:
                pred = theory[(theory.init == init) & (theory.depth == depth)]
                for activation, part in pred.groupby("activation"):
                    part = part.groupby("layer", as_index=False).predicted.mean()
                    ax.plot(
                        part.layer, part.predicted, linestyle="--", linewidth=1.6, color=colours[activation], alpha=0.9
                    )
            ax.set_yscale("log")
            if len(cell) and cell.groupby("activation").layer.count().min() < depth + 1:
                ax.text(0.02, 0.02, "layers with ||dL/dz|| = 0\nare not drawn", transform=ax.transAxes, fontsize=7)
            ax.set_title(f"init={init}, depth={depth}", fontsize=9)
            ax.set_xlim(0.7, depth + 1.3)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=6))
    fig.supxlabel("layer (1 = input side; the last is the output layer)", fontsize=10)
    fig.supylabel("||dL/dz|| over the probe batch (log scale)", fontsize=10)
    _legend(fig, axes, "activation")
    return fig


def vanishing_depth(agg: pd.DataFrame, crossings: pd.DataFrame, threshold: float) -> Figure:
    """First-layer / output-layer grad_z_norm ratio at step 0 against depth, per init, with
    the threshold and each curve's crossing depth written on the page."""
    inits = sorted(agg.init.unique())
    cols = min(len(inits), 3)
    rows = math.ceil(len(inits) / cols)
    fig, axes = _grid(
        rows, cols, f"Vanishing depth: first / output layer ||dL/dz|| at step 0 (threshold {threshold:g})"
    )
    colours = _palette(agg.activation)
    for k, init in enumerate(inits):
        ax = axes.flat[k]
        cell = agg[agg.init == init]
        notes = []
        for activation, part in cell.groupby("activation"):
            part = part.sort_values("depth")
            scaled = part.assign(**{c: 10 ** part[c] for c in ("mean", "lo", "hi")})
            _band(ax, part.depth, scaled, colours[activation], activation, log=True)
            hit = crossings[(crossings.activation == activation) & (crossings.init == init)].crossing_depth
            depth = hit.min() if len(hit) else float("nan")
            notes.append(f"{activation}: " + (f"depth {depth:.1f}" if not math.isnan(depth) else "never"))
            if not math.isnan(depth):
                ax.plot([depth], [threshold], marker="x", color=colours[activation], markersize=9, mew=2)
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1)
        ax.set_yscale("log")
        ax.set_title(f"init={init}", fontsize=9)
        ax.set_xlabel("depth (hidden layers)")
        ax.set_ylabel("ratio (log scale)" if k % cols == 0 else "")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.text(
            0.02,
            0.02,
            "crosses the threshold at (interpolated)\n" + "\n".join(notes),
            transform=ax.transAxes,
            fontsize=7,
            va="bottom",
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
        )
    for ax in axes.flat[len(inits) :]:
        ax.set_visible(False)
    _legend(fig, axes, "activation")
    return fig


def outcome_heatmaps(scores: pd.DataFrame) -> Figure:
    """Final validation score over activation x init, a panel per depth and dataset, annotated."""
    panels = sorted({(d, s) for d, s in zip(scores.dataset, scores.depth, strict=True)})
    cols = min(len(panels), 3)
    rows = math.ceil(len(panels) / cols)
    name = "/".join(sorted(scores.score_name.unique()))
    fig, axes = _grid(rows, cols, f"Outcomes: final validation {name} (mean over seeds)", sharey=False)
    for k, (dataset, depth) in enumerate(panels):
        ax = axes.flat[k]
        cell = scores[(scores.dataset == dataset) & (scores.depth == depth)]
        table = cell.pivot_table(index="activation", columns="init", values="mean")
        sns.heatmap(
            table,
            ax=ax,
            annot=True,
            fmt=".2f",
            cmap="viridis",
            cbar=k == len(panels) - 1,
            annot_kws={"fontsize": 8},
            vmin=scores["mean"].min(),
            vmax=scores["mean"].max(),
        )
        ax.set_title(f"{dataset}, depth={depth}", fontsize=9)
        ax.set_xlabel("init")
        ax.set_ylabel("activation")
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def training_curves(agg: pd.DataFrame, metric: str = "val/loss") -> Figure:
    """`metric` over epochs, a line per activation, a panel per init (and depth when several)."""
    cells = sorted({(i, d) for i, d in zip(agg.init, agg.depth, strict=True)})
    cols = min(len(cells), 4)
    rows = math.ceil(len(cells) / cols)
    fig, axes = _grid(rows, cols, f"Training curves: {metric} over epochs (mean over seeds, 95% interval)")
    colours = _palette(agg.activation)
    log = bool((agg["mean"] > 0).all() and agg["mean"].max() / max(agg["mean"].min(), 1e-12) > 100)
    for k, (init, depth) in enumerate(cells):
        ax = axes.flat[k]
        cell = agg[(agg.init == init) & (agg.depth == depth)]
        for activation, part in cell.groupby("activation"):
            part = part.groupby("epoch", as_index=False)[["mean", "lo", "hi"]].mean()  # pool datasets
            _band(ax, part.epoch, part, colours[activation], activation, log=log)
        if log:
            ax.set_yscale("log")
        ax.set_title(f"init={init}, depth={depth}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{metric}{' (log scale)' if log else ''}" if k % cols == 0 else "")
    for ax in axes.flat[len(cells) :]:
        ax.set_visible(False)
    _legend(fig, axes, "activation")
    return fig


def _per_layer_over_training(
    agg: pd.DataFrame, facet: str, title: str, ylabel: str, ylim: tuple[float, float], label: str = "{}"
) -> Figure:
    keys = sorted(agg[facet].unique())
    cols = min(len(keys), 4)
    rows = math.ceil(len(keys) / cols)
    fig, axes = _grid(rows, cols, title)
    n_layers = int(agg.layer.max())
    colours = _layer_colours(n_layers)
    for k, key in enumerate(keys):
        ax = axes.flat[k]
        for layer, part in agg[agg[facet] == key].groupby("layer"):
            part = part.groupby("step", as_index=False)[["mean", "lo", "hi"]].mean()
            part[["lo", "hi"]] = part[["lo", "hi"]].clip(*ylim)  # a share's interval stays a share
            _band(ax, part.step, part, colours[int(layer) - 1], f"layer {int(layer)}")
        ax.set_ylim(*ylim)
        ax.set_title(label.format(key), fontsize=9)
        ax.set_xlabel("optimiser step" if k >= len(keys) - cols else "")
        ax.set_ylabel(ylabel if k % cols == 0 else "")
    for ax in axes.flat[len(keys) :]:
        ax.set_visible(False)
    _legend(fig, axes, "hidden layer")
    return fig


def activation_health(agg: pd.DataFrame) -> Figure:
    """saturated_frac (bounded activations) and dead_frac (ReLU family) per layer over training."""
    what = agg.stat.map({"saturated_frac": "saturated", "dead_frac": "dead"})
    frame = agg.assign(panel=agg.activation + " + " + agg.init + ": " + what)
    return _per_layer_over_training(
        frame,
        "panel",
        "Activation health: saturated units (sigmoid, tanh) and dead units (ReLU family)",
        "share of units",
        (-0.02, 1.02),
    )


def symmetry(agg: pd.DataFrame) -> Figure:
    """unit_cosine of hidden layers over training, a panel per init."""
    return _per_layer_over_training(
        agg,
        "init",
        "Symmetry: mean pairwise cosine of a layer's weight rows (1.0 = never broken)",
        "unit_cosine",
        (-1.05, 1.05),
        label="init={}",
    )


def text_page(title: str, sections: list[tuple[str, list[str]]]) -> Figure:
    """A page of text: a title and headed lists of lines, wrapped to the page."""
    fig = plt.figure(figsize=PAGE)
    fig.suptitle(title, fontsize=16, fontweight="bold", y=0.97)
    y = 0.90
    for heading, lines in sections:
        fig.text(0.05, y, heading, fontsize=11, fontweight="bold", va="top")
        y -= 0.035
        for line in lines:
            for i, chunk in enumerate(textwrap.wrap(line, 140) or [""]):
                if y < 0.03:
                    break
                fig.text(0.07 if i == 0 else 0.09, y, ("- " if i == 0 else "") + chunk, fontsize=8.5, va="top")
                y -= 0.024
        y -= 0.015
    return fig
