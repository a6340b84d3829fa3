"""The correlation map page: example_cosine per hidden layer at step 0 beside its prediction."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from annlab.read import figures


def figure(agg: pd.DataFrame, theory: pd.DataFrame) -> Figure:
    """example_cosine per hidden layer at step 0, a line per depth, a panel per activation x init;
    the correlation map's prediction dashed in the same colour where given."""
    colours = figures.palette(agg.depth, "viridis")
    dashed = "; dashed: predicted" if not theory.empty else ""
    grid = figures.lines(
        figures.sorted_panels(agg, "activation", "init"),
        x="layer",
        hue="depth",
        panel="panel",
        title=f"Correlation map at step 0: mean pairwise cosine of the probe examples' z (1.0 = all alike{dashed})",
        labels=("hidden layer", "example_cosine"),
        domain=figures.COSINE,
        colours=colours,
    )
    figures.predicted_lines(grid, theory, ["activation", "init"], "depth", "layer", colours)
    return grid.figure
