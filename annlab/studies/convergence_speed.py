"""Study convergence_speed: the check of its finding (the grid is experiments/convergence_speed.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from annlab.studies.common import Study, Verdict, need

if TYPE_CHECKING:
    import pandas as pd

    from annlab.read.store import Frames

FINDING = (
    "the seed's 'tanh converges faster than sigmoid': on every dataset tanh gets halfway from its "
    "starting training loss to the lowest either reaches in fewer epochs than sigmoid"
)
HALF = 0.5  # "a given loss": this share of the way from an activation's own start to the lowest final


def curves(frames: Frames) -> pd.DataFrame:
    """Mean train/loss per dataset x activation x epoch, over seeds."""
    rows = frames.epochs[frames.epochs.metric == "train/loss"]
    rows = rows.merge(frames.usable[["run_id", "dataset", "activation"]], on="run_id")
    return rows.groupby(["dataset", "activation", "epoch"]).value.mean().reset_index()


def epochs_to(curve: pd.DataFrame, target: float) -> int | None:
    """The first epoch whose loss is at most `target`; None if the curve never gets there."""
    reached = curve[curve.value <= target]
    return int(reached.epoch.min()) if len(reached) else None


def check(frames: Frames) -> Verdict:
    need(frames, activation=["sigmoid", "tanh"])
    v = Verdict()
    mean = curves(frames)
    for dataset, part in mean.groupby("dataset"):
        by = {a: c.sort_values("epoch") for a, c in part.groupby("activation")}
        if set(by) != {"sigmoid", "tanh"}:
            continue
        # Each from its own start (the nets' initial losses differ) to one loss: the lowest final.
        lowest = min(float(c.value.iloc[-1]) for c in by.values())
        starts = {a: float(c.value.iloc[0]) for a, c in by.items()}
        took = {a: epochs_to(c, starts[a] - HALF * (starts[a] - lowest)) for a, c in by.items()}
        shown = {a: "never" if took[a] is None else str(took[a]) for a in by}
        tanh, sig = took["tanh"], took["sigmoid"]
        v.add(
            f"{dataset}: epochs to halve the way to train/loss {lowest:.3f}",
            ", ".join(f"{a} {shown[a]} (from {starts[a]:.3f})" for a in ("tanh", "sigmoid")),
            "tanh fewer",
            tanh is not None and (sig is None or tanh < sig),
        )
    return v


STUDY = Study("convergence_speed", FINDING, check)
