"""Study deep_relu_he2015: the check of its finding (the grid is experiments/deep_relu_he2015.yaml)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from annlab.lazy import lazy
from annlab.studies.common import Study, Verdict, need, std_ratio

if TYPE_CHECKING:
    from annlab.read.store import Frames

# Loaded at the first check, not at import: `python -m annlab.study list` stays light.
analysis = lazy("annlab.read.analysis")

FINDING = "30-layer ReLU: xavier shrinks the signal ~2^-15 and stays at chance; kaiming trains"


def check(frames: Frames) -> Verdict:
    need(frames, init=["xavier", "kaiming"])
    v = Verdict()
    ratios = std_ratio(frames).groupby("init").log2_ratio.mean()
    runs = frames.usable
    chance = math.log(2)
    v.add(
        "xavier: log2 a_std last/first hidden",
        f"{ratios['xavier']:+.1f}",
        "about -15 (within -17 .. -13)",
        -17 <= ratios["xavier"] <= -13,
    )
    # Finite width (64) lets the std wander over 30 layers even where its expectation is kept.
    v.add(
        "kaiming: log2 a_std last/first hidden",
        f"{ratios['kaiming']:+.1f}",
        "about 0 (within -3 .. 3)",
        abs(ratios["kaiming"]) <= 3,
    )
    ep = analysis.with_runs(frames.epochs[frames.epochs.metric == "train/loss"], runs)
    final = ep[ep.epoch == ep.groupby("run_id").epoch.transform("max")].groupby("init").value.mean()
    acc = runs.groupby("init").val_score.mean()
    v.add(
        "xavier: final train loss",
        f"{final['xavier']:.3f} (val acc {acc['xavier']:.3f})",
        f"stays at chance (>= 0.95 * ln 2 = {0.95 * chance:.3f})",
        final["xavier"] >= 0.95 * chance,
    )
    v.add(
        "kaiming: final train loss",
        f"{final['kaiming']:.3f} (val acc {acc['kaiming']:.3f})",
        "trains (< 0.5 * ln 2, val acc >= 0.8)",
        final["kaiming"] < 0.5 * chance and acc["kaiming"] >= 0.8,
    )
    return v


STUDY = Study("deep_relu_he2015", FINDING, check)
