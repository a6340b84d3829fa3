"""Study init_matching: the check of its finding (the grid is experiments/init_matching.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from annlab.lazy import lazy
from annlab.studies.common import Study, Verdict, grad_ratio, need, std_ratio

if TYPE_CHECKING:
    from annlab.read.store import Frames

# Loaded at the first check, not at import: `python -m annlab.study list` stays light.
analysis = lazy("annlab.read.analysis")

FINDING = (
    "the seed's rule: kaiming preserves the ReLU family's signal and xavier tanh's at depth 10; "
    "plain N(0,1) only works shallow"
)


KEPT_LOG2 = 1.0  # "kept": activation std and gradient within 2x from first to last hidden layer
TOLERATED = 0.1  # N(0, 1) is tolerated shallow: within this of the matched init's val acc
NOT_TOLERATED = 0.05  # and not deep: at least this far below it


def _signal_rows(v: Verdict, frames: Frames) -> None:
    """At the deepest depth: the seed's rule (kaiming for the ReLU family, xavier otherwise)
    keeps both the forward and the backward signal, and for the ReLU family xavier does not."""
    both = std_ratio(frames).merge(grad_ratio(frames)[["run_id", "log2_grad"]], on="run_id")
    deepest = int(both.depth.max())
    deep = both[(both.depth == deepest) & both.init.isin(["xavier", "kaiming"])]
    for act, part in deep.groupby("activation"):
        by_init = part.groupby("init")[["log2_ratio", "log2_grad"]].mean()
        kept = (by_init.log2_ratio.abs() <= KEPT_LOG2) & (by_init.log2_grad.abs() <= KEPT_LOG2)
        shown = "; ".join(f"{i}: a_std {r.log2_ratio:+.1f}, grad {r.log2_grad:+.1f}" for i, r in by_init.iterrows())
        what = f"{act} at depth {deepest}, log2 last/first"
        if act == "sigmoid":  # its derivative peaks at 1/4: no variance-scaling init preserves it
            v.add(what, shown, "(reported: gradients shrink ~4x per layer under either init)", True)
            continue
        relu_family = act in analysis.RELU_FAMILY
        rule, other = ("kaiming", "xavier") if relu_family else ("xavier", "kaiming")
        expected = f"{rule} keeps both within 2x (|log2| <= 1)" + (f" and {other} does not" if relu_family else "")
        ok = bool(kept.get(rule, False)) and (not relu_family or not kept.get(other, False))
        v.add(what, shown, expected, ok)


def _plain_normal_rows(v: Verdict, frames: Frames) -> None:
    """Plain N(0, 1) against the matched init: tolerated at the shallowest depth, not deeper. A
    diverged run is a run that did not train (chance, 0.5 on moons)."""
    runs = frames.runs[frames.runs.status == "FINISHED"]
    runs = runs.assign(score=runs.val_score.where(~runs.diverged, 0.5))
    for act in sorted(set(runs.activation) - {"sigmoid"}):
        rule = "kaiming" if act in analysis.RELU_FAMILY else "xavier"
        part = runs[runs.activation == act]
        for depth in sorted(part.depth.unique()):
            plain = part[(part.init == "normal") & (part.depth == depth)]
            if plain.empty:
                continue
            matched = part[(part.init == rule) & (part.depth == depth)].score.mean()
            shown = f"val acc {plain.score.mean():.3f} vs {rule} {matched:.3f}; {int(plain.diverged.sum())} diverged"
            what = f"{act} + normal(0, 1) at depth {depth}"
            if depth == part.depth.min():
                v.add(what, shown, f"tolerated (within {TOLERATED:g})", plain.score.mean() >= matched - TOLERATED)
            else:
                v.add(
                    what,
                    shown,
                    f"not tolerated ({NOT_TOLERATED:g} or more below)",
                    plain.score.mean() <= matched - NOT_TOLERATED,
                )


def check(frames: Frames) -> Verdict:
    need(frames, init=["xavier", "kaiming", "normal"], activation=["relu"])
    v = Verdict()
    _signal_rows(v, frames)
    _plain_normal_rows(v, frames)
    return v


STUDY = Study("init_matching", FINDING, check)
