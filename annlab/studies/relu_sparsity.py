"""Study relu_sparsity: the check of its finding (the grid is experiments/relu_sparsity.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from annlab.studies.common import MissingData, Study, Verdict, need

if TYPE_CHECKING:
    import pandas as pd

    from annlab.read.store import Frames

FINDING = (
    "the seed's 'ReLU's sparsity eases overfitting': relu outputs exact zeros for a large share of its "
    "hidden values and overfits less (a smaller gap between validation and training loss) than "
    "leaky_relu and tanh on the same net"
)
SPARSE = 0.3  # "sparse": at least this share of hidden activation values exactly 0
LESS = 0.9  # "overfits less": a gap at most this fraction of the other's


def sparsity(frames: Frames) -> pd.Series:
    """Per activation: the share of hidden-layer activation values with |a| < 1e-8 (exact zeros,
    for relu) at the last recorded step, from the distributions record, mean over runs."""
    from annlab.read import layer_distributions as dists

    dist = frames.distributions()
    if dist.empty:
        raise MissingData("the runs recorded no distributions (probe.distributions=0?)")
    tidy = dists.tidy(dists.histograms(dist, frames.usable, "a"))
    end = tidy[tidy.when == "end"]
    zero = end[end.central].groupby(["activation", "layer"]).share.sum()
    share = zero.groupby("activation").mean()
    return share.reindex(sorted(end.activation.unique()), fill_value=0.0)  # bounded schemes have no zero bin


def gaps(frames: Frames) -> pd.DataFrame:
    """Per activation: mean final train and val loss over runs, and their gap (val - train)."""
    runs = frames.usable
    table = runs.groupby("activation")[["train_loss", "val_loss"]].mean()
    return table.assign(gap=table.val_loss - table.train_loss)


def check(frames: Frames) -> Verdict:
    need(frames, activation=["relu", "leaky_relu", "tanh"])
    v = Verdict()
    share, table = sparsity(frames), gaps(frames)
    v.add(
        "hidden activation values exactly 0 at the end",
        ", ".join(f"{a} {s:.0%}" for a, s in share.items()),
        f"relu at least {SPARSE:.0%}",
        share["relu"] >= SPARSE,
    )
    relu = float(table.gap["relu"])
    for other in ("leaky_relu", "tanh"):
        row = table.loc[other]
        v.add(
            f"overfitting gap (val - train loss): relu against {other}",
            f"{relu:.3f} ({table.val_loss['relu']:.3f} - {table.train_loss['relu']:.3f}) against "
            f"{row.gap:.3f} ({row.val_loss:.3f} - {row.train_loss:.3f})",
            f"relu's at most {LESS:g}x",
            relu <= LESS * float(row.gap),
        )
    return v


STUDY = Study("relu_sparsity", FINDING, check)
