"""Study convergence_speed: the check of its finding (the grid is experiments/convergence_speed.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from annlab.studies.common import Study, Verdict, need

if TYPE_CHECKING:
    import pandas as pd

    from annlab.read.store import Frames

FINDING = (
    "the seed's 'tanh converges faster than sigmoid': on every dataset tanh reaches the training loss "
    "both activations reach in fewer epochs than sigmoid"
)


def curves(frames: Frames) -> pd.DataFrame:
    """Mean train/loss per dataset x activation x epoch, over seeds."""
    rows = frames.epochs[frames.epochs.metric == "train/loss"]
    rows = rows.merge(frames.usable[["run_id", "dataset", "activation"]], on="run_id")
    return rows.groupby(["dataset", "activation", "epoch"]).value.mean().reset_index()


def epochs_to(curve: pd.DataFrame, target: float) -> int:
    """The first epoch whose loss is at most `target` (a curve that never gets there: past its end)."""
    reached = curve[curve.value <= target]
    return int(reached.epoch.min()) if len(reached) else int(curve.epoch.max()) + 1


def check(frames: Frames) -> Verdict:
    need(frames, activation=["sigmoid", "tanh"])
    v = Verdict()
    mean = curves(frames)
    for dataset, part in mean.groupby("dataset"):
        by = {a: c.sort_values("epoch") for a, c in part.groupby("activation")}
        if set(by) != {"sigmoid", "tanh"}:
            continue
        # The loss both reach: the worse of the two final mean losses.
        target = max(float(c.value.iloc[-1]) for c in by.values())
        sig, tanh = epochs_to(by["sigmoid"], target), epochs_to(by["tanh"], target)
        start = float(by["sigmoid"].value.iloc[0])
        v.add(
            f"{dataset}: epochs to train/loss {target:.3f} (from {start:.3f})",
            f"tanh {tanh}, sigmoid {sig}",
            "tanh fewer",
            tanh < sig,
        )
    return v


STUDY = Study("convergence_speed", FINDING, check)
