"""Study trainability: the check of its finding (the grid is experiments/trainability.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from annlab.lazy import lazy
from annlab.studies.common import Study, Verdict, need, scored_runs

if TYPE_CHECKING:
    import pandas as pd

    from annlab.read.store import Frames

# Loaded at the first check, not at import: `python -m annlab.study list` stays light.
analysis = lazy("annlab.read.analysis")

FINDING = (
    "kept gradients are not a promise of training: at depth 20 (SGD with momentum, one fixed budget) critical "
    "trains sigmoid where xavier and kaiming stay at chance and matches the seed's rule for tanh, relu and gelu; "
    "calibrated's shared bias leaves relu at chance"
)
CHANCE = 0.5  # circles is balanced: a diverged or failed run counts as this
AT_CHANCE = 0.6  # mean val acc at or below this: did not train
BETTER = 0.1  # "trains where the other does not": at least this much higher mean val acc
MATCHES = 0.05  # "matches": at most this much lower
RULE_CHECKED = ("sigmoid", "tanh", "relu", "gelu")


def scores(frames: Frames) -> pd.DataFrame:
    """Mean val acc and loss, and how many runs were lost (diverged or failed), per activation x
    init; a lost run did not train: it counts at chance."""
    return (
        scored_runs(frames, CHANCE)
        .groupby(["activation", "init"])
        .agg(acc=("score", "mean"), loss=("val_loss", "mean"), lost=("lost", "sum"), n=("score", "size"))
    )


def seeds_rule(activation: str) -> str:
    """The seed's rule: kaiming for the ReLU family, xavier for everything else."""
    return "kaiming" if activation in analysis.RELU_FAMILY else "xavier"


def _cell(table: pd.DataFrame, act: str, init: str) -> float:
    return float(table.acc.get((act, init), float("nan")))


def _reported_rows(v: Verdict, table: pd.DataFrame) -> None:
    for act in sorted({a for a, _ in table.index}):
        part = table.loc[act]
        shown = ", ".join(
            f"{i} {r.acc:.2f}/{r.loss:.2f}" + (f" ({int(r.lost)} lost)" if r.lost else "") for i, r in part.iterrows()
        )
        trained = [i for i, r in part.iterrows() if r.acc > AT_CHANCE]
        v.add(f"{act}: mean val acc/loss", shown, f"(reported: above chance with {', '.join(trained) or 'none'})", True)


def check(frames: Frames) -> Verdict:
    need(frames, init=["xavier", "kaiming", "critical", "calibrated"], activation=["sigmoid", "relu"])
    v = Verdict()
    table = scores(frames)
    _reported_rows(v, table)
    crit, xav, kai = (_cell(table, "sigmoid", i) for i in ("critical", "xavier", "kaiming"))
    v.add(
        "sigmoid: critical against xavier, kaiming",
        f"{crit:.2f} against {xav:.2f}, {kai:.2f}",
        f"both at chance (<= {AT_CHANCE:g}), critical {BETTER:g} or more above",
        max(xav, kai) <= AT_CHANCE and crit >= max(xav, kai) + BETTER,
    )
    for act in RULE_CHECKED:
        rule = seeds_rule(act)
        if (act, rule) in table.index:
            got, want = _cell(table, act, "critical"), _cell(table, act, rule)
            v.add(
                f"{act}: critical against {rule}",
                f"{got:.2f} against {want:.2f}",
                f"at most {MATCHES:g} lower",
                got >= want - MATCHES,
            )
    calibrated = _cell(table, "relu", "calibrated")
    v.add(
        "relu: calibrated (bias 0.5)",
        f"{calibrated:.2f}",
        f"at chance (<= {AT_CHANCE:g}): the shared bias",
        calibrated <= AT_CHANCE,
    )
    return v


STUDY = Study("trainability", FINDING, check)
