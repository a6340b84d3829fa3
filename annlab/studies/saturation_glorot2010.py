"""Study saturation_glorot2010: the check of its finding (the grid is experiments/saturation_glorot2010.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from annlab.studies.common import Study, Verdict, hidden, need

if TYPE_CHECKING:
    from annlab.read.store import Frames

FINDING = "sigmoid with the standard init drives its top hidden layer towards 0 early in training"


def check(frames: Frames) -> Verdict:
    need(frames, activation=["sigmoid"], init=["pytorch", "xavier"])
    v = Verdict()
    mean = hidden(frames, "a_mean")
    sat = hidden(frames, "saturated_frac")
    for init in ("pytorch", "xavier"):
        m = mean[(mean.activation == "sigmoid") & (mean.init == init)]
        top = m[m.layer == m.depth].groupby("step").value.mean()
        low = m[m.layer == 1].groupby("step").value.mean()
        v.add(
            f"sigmoid + {init}: top hidden layer a_mean",
            f"{top.iloc[0]:.3f} at step 0 -> min {top.min():.3f} (layer 1 min {low.min():.3f})",
            "top layer driven towards 0 (min < 0.2)" if init == "pytorch" else "(reported)",
            top.min() < 0.2 if init == "pytorch" else True,
        )
    for init in ("pytorch", "xavier"):
        s = sat[(sat.activation == "tanh") & (sat.init == init)].groupby("layer").value.max()
        if s.empty:
            continue
        v.add(f"tanh + {init}: max saturated_frac per layer", ", ".join(f"{x:.2f}" for x in s), "(reported)", True)
    return v


STUDY = Study("saturation_glorot2010", FINDING, check)
