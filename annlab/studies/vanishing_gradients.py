"""Study vanishing_gradients: the check of its finding (the grid is experiments/vanishing_gradients.yaml)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from annlab.lazy import lazy
from annlab.studies.common import Study, Verdict, measured_and_predicted, need

if TYPE_CHECKING:
    import pandas as pd

    from annlab.read.store import Frames

# Loaded at the first check, not at import: `python -m annlab.study list` stays light.
analysis = lazy("annlab.read.analysis")

FINDING = (
    "sigmoid gradients vanish (first/output < 1e-2) by depth 5; relu + kaiming keeps them within a decade; "
    "the mean-field prediction matches within 0.3 decades"
)


THRESHOLD = 1e-2  # "vanished": layer 1's ||dL/dz|| below 1% of the output layer's
SIGMOID_DEPTH = 5  # sigmoid vanishes by this depth
RELU_DECADES = 1.0  # relu + kaiming stays within this many decades at every depth
THEORY_GAP = 0.3  # measured and predicted log10 ratios agree within this many decades
THEORY_CELLS = {"activation": ["sigmoid", "tanh", "relu"], "init": ["xavier", "kaiming", "pytorch"]}


def _crossings(v: Verdict, agg: pd.DataFrame) -> None:
    for row in analysis.crossing_depths(agg, THRESHOLD).sort_values(["activation", "init"]).itertuples():
        shown = "never" if math.isnan(row.crossing_depth) else f"{row.crossing_depth:.1f}"
        measured = f"crosses {THRESHOLD:g} at depth {shown}; {row.ratio_at_max_depth:.2g} at depth {row.max_depth}"
        if row.activation == "sigmoid":
            v.add(
                f"sigmoid + {row.init}",
                measured,
                f"crosses at depth <= {SIGMOID_DEPTH}",
                row.crossing_depth <= SIGMOID_DEPTH,
            )
        elif row.activation == "relu" and row.init == "kaiming":
            worst = agg[(agg.activation == "relu") & (agg.init == "kaiming")]["mean"].abs().max()
            v.add(
                "relu + kaiming",
                f"max |log10 ratio| {worst:.2f} up to depth {row.max_depth}",
                f"within {RELU_DECADES:g} decade at every depth",
                worst <= RELU_DECADES,
            )
        else:
            v.add(f"{row.activation} + {row.init}", measured, "(reported)", True)


def _theory(v: Verdict, frames: Frames, agg: pd.DataFrame) -> None:
    """Measured against mean-field log10 ratio at step 0, per activation x init x depth, from the
    networks the runs recorded (one run per cell: seeds share a prediction)."""
    usable = frames.usable
    cells = usable[usable.activation.isin(THEORY_CELLS["activation"]) & usable.init.isin(THEORY_CELLS["init"])]
    merged = measured_and_predicted(frames, agg, cells)
    for (act, init), part in merged.groupby(["activation", "init"]):
        deepest = part.loc[part.depth.idxmax()]
        worst = (part["mean"] - part.predicted).abs().max()
        v.add(
            f"theory {act} + {init}",
            f"depth {deepest.depth}: {deepest['mean']:+.2f} vs {deepest.predicted:+.2f} predicted; max gap {worst:.2f}",
            f"within {THEORY_GAP:g} decades at every depth",
            worst <= THEORY_GAP,
        )


def check(frames: Frames) -> Verdict:
    need(frames, activation=["sigmoid", "relu"], init=["kaiming"])
    v = Verdict()
    agg = analysis.vanishing_depth(analysis.vanishing_ratios(frames.layers, frames.usable))
    _crossings(v, agg)
    _theory(v, frames, agg)
    return v


STUDY = Study("vanishing_gradients", FINDING, check)
