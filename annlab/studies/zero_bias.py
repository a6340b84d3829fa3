"""Study zero_bias: the check of its finding (the grid is experiments/zero_bias.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from annlab.studies.common import MissingData, Study, Verdict, scored_runs

if TYPE_CHECKING:
    import pandas as pd

    from annlab.read.store import Frames

FINDING = (
    "the seed's 'biases can start at zero': with the same weight init, zero biases train every "
    "activation x depth as well as random ones (mean val acc at most 0.02 lower)"
)
AS_WELL = 0.02
CHANCE = 0.5  # moons is balanced: a lost (diverged or failed) run counts as this


def scores(frames: Frames) -> pd.DataFrame:
    """Mean val acc per activation x init x depth x bias ('zero' or 'random'), a lost run at chance."""
    runs = scored_runs(frames, CHANCE)
    runs = runs.assign(
        bias=runs.init_bias.map(lambda b: "random" if b == "default" else ("zero" if b and float(b) == 0 else b))
    )
    return runs.groupby(["activation", "init", "depth", "bias"]).score.mean().unstack("bias")


def check(frames: Frames) -> Verdict:
    table = scores(frames)
    if not {"zero", "random"} <= set(table.columns):
        raise MissingData("needs runs with init.bias=0 and init.bias=default")
    v = Verdict()
    for (act, init, depth), row in table.dropna(subset=["zero", "random"]).iterrows():
        v.add(
            f"{act} + {init} weights, depth {depth}: val acc zero / random bias",
            f"{row.zero:.3f} / {row.random:.3f}",
            f"zero at most {AS_WELL:g} lower",
            row.zero >= row.random - AS_WELL,
        )
    return v


STUDY = Study("zero_bias", FINDING, check)
