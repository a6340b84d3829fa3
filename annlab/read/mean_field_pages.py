"""The mean-field pages beyond the mean: the Jacobian's spectra, and trainability over sigma_w^2 and depth."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from annlab.read import figures

MAX_PANELS = 24
# Singular values below 10^FLOOR are drawn in the first bin: a ReLU net's dead units make J
# rank-deficient, and its zero singular values come out of the SVD as 1e-100 or so.
FLOOR = -4.0


def spectrum_figure(values: pd.DataFrame) -> Figure:
    """Histograms of log10 singular values of dz_L/dz_1 at step 0 (all seeds and examples), a
    panel per cell (init and its params x depth), a colour per activation; the theory's mean
    squared singular value marked solid and mean +- one standard deviation dashed (as log10 s)."""
    frame = values.assign(
        panel=values.init + " " + values.init_params + "\ndepth " + values.depth.astype(str),
        log10_s=values.log10_s.clip(lower=FLOOR),
    )
    panels = sorted(frame.panel.unique(), key=lambda p: (p.rsplit("\n", 1)[0], int(p.rsplit(" ", 1)[1])))
    panels = panels[:MAX_PANELS]
    colours = figures.palette(frame.activation)
    columns = figures.facet_columns(len(panels))
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=figures.PAGE, squeeze=False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        part = frame[frame.panel == panel]
        for act, cell in part.groupby("activation"):
            colour = colours[act]
            ax.hist(cell.log10_s, bins=40, histtype="step", density=True, color=colour, label=str(act))
            mean, var = float(cell.predicted_mean.iloc[0]), float(cell.predicted_variance.iloc[0])
            if mean > 0 and math.isfinite(mean):
                ax.axvline(0.5 * math.log10(mean), color=colour, linewidth=1)
                for edge in (mean - math.sqrt(max(var, 0.0)), mean + math.sqrt(max(var, 0.0))):
                    if edge > 0:
                        ax.axvline(0.5 * math.log10(edge), color=colour, linewidth=0.8, linestyle="--")
        ax.set_title(panel, fontsize=6)
        ax.tick_params(labelsize=6)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], color=c, label=str(k)) for k, c in colours.items()]
    fig.legend(handles=handles, title="activation", loc="center right", fontsize=8)
    note = "" if len(panels) == frame.panel.nunique() else f" (first {len(panels)} of {frame.panel.nunique()} cells)"
    fig.suptitle(
        "Jacobian spectra at step 0: log10 singular values of dz_L/dz_1 (solid: predicted mean s^2; dashed: "
        f"mean +- one sd; below {FLOOR:g} drawn at {FLOOR:g}){note}",
        fontsize=10,
    )
    fig.supxlabel("log10 singular value", fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.88, 0.95))
    return fig


def depth_scales_figure(cells: pd.DataFrame, curves: pd.DataFrame, critical: pd.DataFrame) -> Figure:
    """Final training accuracy over sigma_w^2 (x) and depth (y), a panel per activation and
    sigma_b^2, with 6 xi_c (the theory's trainable depth, solid) and 3 xi_c, 9 xi_c (dashed) over it
    and the critical sigma_w^2 marked."""
    groups = list(cells.groupby(["activation", "sigma_b2"]))
    fig, axes = plt.subplots(1, len(groups), figsize=figures.PAGE, squeeze=False)
    for ax, ((act, sigma_b2), part) in zip(axes.flat, groups, strict=True):
        table = part.pivot_table(index="depth", columns="sigma_w2", values="train_acc")
        xs, ys = list(table.columns), list(table.index)
        image = ax.imshow(table.to_numpy(), origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=1)
        for (i, j), value in np.ndenumerate(table.to_numpy()):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="w" if value < 0.6 else "k")
        ax.set_xticks(range(len(xs)), [f"{x:.3g}" for x in xs], fontsize=7)
        ax.set_yticks(range(len(ys)), [str(y) for y in ys], fontsize=7)

        def at(values: np.ndarray, grid: list[float], log: bool) -> np.ndarray:
            """Cell positions of `values` on the axis of `grid` (NaN outside it: a line ends at the edge)."""
            scale = np.log if log else (lambda v: v)
            edges = scale(np.asarray(grid, dtype=float))
            pos = np.interp(scale(values), edges, np.arange(len(grid)))
            return np.where((scale(values) < edges[0]) | (scale(values) > edges[-1]), np.nan, pos)

        own = curves[(curves.activation == act) & (curves.sigma_b2 == sigma_b2)]
        for times, style in ((6.0, "-"), (3.0, "--"), (9.0, "--")):
            line = own[own.times == times]
            line = line[np.isfinite(line.depth) & (line.depth > 0)]
            inside = line[(line.depth >= ys[0]) & (line.depth <= ys[-1])]
            if len(inside):
                ax.plot(at(inside.sigma_w2.to_numpy(), xs, False), at(inside.depth.to_numpy(), ys, True),
                        style, color="red", linewidth=1.5 if times == 6 else 0.8, label=f"{times:g} xi_c")  # fmt: skip
        crit = critical[(critical.activation == act) & (critical.sigma_b2 == sigma_b2)].critical
        if len(crit) and math.isfinite(float(crit.iloc[0])):
            ax.axvline(float(at(np.array([float(crit.iloc[0])]), xs, False)[0]), color="white", linestyle=":")
        ax.set_ylim(-0.5, len(ys) - 0.5)
        ax.set_title(f"{act}, sigma_b^2 = {sigma_b2:g} (dotted: critical sigma_w^2)", fontsize=9)
        ax.set_xlabel("sigma_w^2", fontsize=9)
        ax.set_ylabel("depth (hidden layers)", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
        fig.colorbar(image, ax=ax, label="final training accuracy")
    fig.suptitle(
        "Depth scales: final training accuracy over sigma_w^2 and depth, with the correlation map's xi_c", fontsize=11
    )
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig
