"""Study dead_relu: the check of its finding (the grid is experiments/dead_relu.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from annlab.studies.common import Study, Verdict, hidden, need

if TYPE_CHECKING:
    from annlab.read.store import Frames

FINDING = "under a large learning rate relu's dead fraction grows and stays; leaky_relu, prelu and elu stay near zero"


def check(frames: Frames) -> Verdict:
    need(frames, activation=["relu", "leaky_relu", "prelu"])
    v = Verdict()
    dead = hidden(frames, "dead_frac")
    per_step = dead.groupby(["activation", "step"]).value.mean().reset_index()
    for act, part in per_step.groupby("activation"):
        part = part.sort_values("step")
        start, end, peak = part.value.iloc[0], part.value.iloc[-1], part.value.max()
        measured = f"dead_frac {start:.3f} at step 0 -> {end:.3f} at the end (peak {peak:.3f})"
        if act == "relu":
            v.add(
                "relu",
                measured,
                "grows (end >= start + 0.1) and stays (end >= 0.8 * peak)",
                end >= start + 0.1 and end >= 0.8 * peak,
            )
        else:
            v.add(act, measured, "stays near 0 (<= 0.02 throughout)", peak <= 0.02)
    return v


STUDY = Study("dead_relu", FINDING, check)
