"""Study no_nonlinearity: the check of its finding (the grid is experiments/no_nonlinearity.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from annlab.studies.common import MissingData, Study, Verdict

if TYPE_CHECKING:
    from annlab.read.store import Frames

FINDING = (
    "the seed's 'a network without non-linearities is a linear model': identity-activation nets at depths "
    "1, 3 and 6 fit no better than depth 0, the linear model (mean train loss at most 0.02 below its), "
    "on every dataset"
)
# The fit of the function class, read from the training loss: a deeper linear net may get there
# in fewer epochs, never below it. Accuracy near chance (circles) is too noisy to compare.
BELOW = 0.02


def check(frames: Frames) -> Verdict:
    runs = frames.usable
    if not (runs.depth == 0).any():
        raise MissingData("no runs at model.depth=0 (the linear model to compare with)")
    v = Verdict()
    mean = runs.groupby(["dataset", "activation", "depth"])[["train_loss", "val_score"]].mean()
    for (dataset, activation), part in mean.groupby(level=["dataset", "activation"]):
        by_depth = part.droplevel(["dataset", "activation"])
        if 0 not in by_depth.index:
            continue
        linear = by_depth.loc[0]
        for depth, row in by_depth.drop(0).iterrows():
            v.add(
                f"{dataset}, {activation} at depth {depth}: train loss (val acc) against depth 0",
                f"{row.train_loss:.3f} ({row.val_score:.3f}) against {linear.train_loss:.3f} ({linear.val_score:.3f})",
                f"at most {BELOW:g} below",
                row.train_loss >= linear.train_loss - BELOW,
            )
    return v


STUDY = Study("no_nonlinearity", FINDING, check)
