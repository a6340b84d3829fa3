"""The gain map page: predicted backward factor against the gain per activation, measured runs overlaid."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from annlab.read import figures

GAINS = np.geomspace(0.3, 20.0, 25)
MARKERS = {"xavier": "s", "kaiming": "^", "critical": "*"}


def gain_map_page(theory: pd.DataFrame, measured: pd.DataFrame) -> Figure:
    """A panel per activation: chi at the length map's fixed point against the gain (line), the
    gains xavier, kaiming and critical give (marked), and each run's measured chi at step 0 at the
    mean gain of its hidden layers (dots, coloured by init)."""
    curve = theory[theory.marked.isna()].assign(mean=lambda d: d.chi, n=1, line="predicted")
    grid = figures.lines(
        curve.sort_values(["activation", "gain"]),
        x="gain",
        hue="line",
        panel="activation",
        title="Gain map: backward factor chi = sigma_w^2 E[phi'(z)^2] against the gain (line: mean-field at the "
        "fixed point; marks: xavier, kaiming, critical; dots: runs measured at step 0, coloured by init)",
        labels=("gain sigma_w (weights N(0, gain^2 / fan_in))", "chi per layer (log scale; 1 = kept)"),
        domain=figures.POSITIVE,
        log=True,
        colours={"predicted": (0.3, 0.3, 0.3)},
        legend="",
    )
    colours = figures.palette(measured.init) if not measured.empty else {}

    def draw(panel: str, ax: object) -> None:
        ax.set_xscale("log")  # type: ignore[attr-defined]
        ax.axhline(1.0, color="black", linewidth=0.8, linestyle=":")  # type: ignore[attr-defined]
        for row in theory[(theory.activation == panel) & theory.marked.notna()].itertuples():
            ax.plot(
                [row.gain],
                [row.chi],
                marker=MARKERS[row.marked],
                color="black",
                markersize=8,  # type: ignore[attr-defined]
                linestyle="none",
                label=row.marked,
            )
        for init, part in measured[measured.activation == panel].groupby("init"):
            ax.plot(part.gain, part.chi, "o", color=colours[init], alpha=0.8, label=f"run: {init}")  # type: ignore[attr-defined]

    figures.annotate(grid, draw)
    handles = {}
    for ax in grid.axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    for found in list(grid.figure.legends):  # the hue's legend: this page's names its marks too
        found.remove()
    grid.figure.legend(handles.values(), handles.keys(), loc="center right", frameon=False, fontsize=8)
    return grid.figure
