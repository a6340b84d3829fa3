"""Study symmetry_breaking: the check of its finding (the grid is experiments/symmetry_breaking.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from annlab.studies.common import Study, Verdict, hidden, need

if TYPE_CHECKING:
    from annlab.read.store import Frames

FINDING = (
    "zeros/ones/constant never break symmetry and do no better than a linear model; "
    "random inits break it and do clearly better"
)


def check(frames: Frames) -> Verdict:
    need(frames, init=["zeros", "ones", "constant", "xavier"], depth=[0])
    v = Verdict()
    cos = hidden(frames, "unit_cosine")
    runs = frames.usable
    linear = runs[runs.depth == 0].val_score.mean()
    deep = runs[runs.depth > 0]
    for init in ("zeros", "ones", "constant"):
        c = cos[cos.init == init]
        acc = deep[deep.init == init].val_score.mean()
        v.add(
            f"{init}: hidden unit_cosine",
            f"min {c.value.min():.5f} over all layers and steps",
            ">= 0.999",
            c.value.min() >= 0.999,
        )
        v.add(
            f"{init}: val acc",
            f"{acc:.3f} (linear model {linear:.3f})",
            "no better than the linear model or chance (0.5), + 0.05",
            acc <= max(linear, 0.5) + 0.05,
        )
    for init in ("uniform", "normal", "xavier", "kaiming"):
        c = cos[(cos.init == init)]
        if c.empty:
            continue
        first = c[c.step == c.step.min()].value.max()
        acc = deep[deep.init == init].val_score.mean()
        v.add(f"{init}: hidden unit_cosine at step 0", f"max {first:.3f}", "< 0.99 (symmetry broken)", first < 0.99)
        if init != "uniform":  # U(0, 1) breaks symmetry but is far from a good init
            v.add(f"{init}: val acc", f"{acc:.3f} (linear {linear:.3f})", "> linear + 0.1", acc > linear + 0.1)
        else:
            v.add(f"{init}: val acc", f"{acc:.3f} (linear {linear:.3f})", "(reported)", True)
    return v


STUDY = Study("symmetry_breaking", FINDING, check)
