"""Study trainability: the check of its finding (the grid is experiments/trainability.yaml)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from annlab.lazy import lazy
from annlab.studies.common import MissingData, Study, Verdict, hidden, need, scored_runs

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


def last_hidden_at_start(frames: Frames, stat: str) -> pd.Series:
    """Per activation x init, the mean over seeds of `stat` at the last hidden layer at step 0.
    MissingData where the runs did not record it (example_cosine is newer than some stores)."""
    rows = hidden(frames, stat)
    rows = rows[(rows.step == 0) & (rows.layer == rows.depth)].dropna(subset=["value"])
    if rows.empty:
        raise MissingData(f"the runs recorded no {stat} (older than it): re-run the study with resume=false")
    return rows.groupby(["activation", "init"]).value.mean()


def predicted_at_last_hidden(frames: Frames) -> pd.Series:
    """Per activation x init, the mean over seeds of the correlation map's prediction of
    example_cosine at the last hidden layer; empty for runs recorded before it."""
    import pandas as pd

    from annlab.read import expected
    from annlab.read.store import load_networks

    networks = load_networks(frames.usable, frames.uri) if frames.uri else pd.DataFrame()
    cells = expected.correlation_map(networks, frames.usable, ["activation", "init", "depth"])
    if cells.empty:
        return pd.Series(dtype=float)
    return cells[cells.layer == cells.depth].groupby(["activation", "init"]).predicted.mean()


def separation(measure: pd.Series, trained: pd.Series) -> tuple[float, str, int]:
    """The single threshold on `measure` that best tells the cells that trained from the others
    (trained below it, or above it), the side, and how many cells it gets wrong."""
    best = (float("nan"), "", len(measure) + 1)
    values = sorted(measure.dropna().unique())
    cuts = [(a + b) / 2 for a, b in itertools.pairwise(values)] or values
    for cut in cuts:
        for side, predicted in (("below", measure < cut), ("above", measure > cut)):
            errors = int((predicted != trained.reindex(measure.index)).sum())
            if errors < best[2]:
                best = (float(cut), side, errors)
    return best


def _correlation_rows(v: Verdict, frames: Frames, table: pd.DataFrame) -> None:
    """example_cosine at the last hidden layer at step 0 per cell, and how well one threshold on it
    tells the cells that train from those that do not (reported: none is a valid answer)."""
    cosine = last_hidden_at_start(frames, "example_cosine")
    predicted = predicted_at_last_hidden(frames)
    for act in sorted({a for a, _ in cosine.index}):
        shown = ", ".join(
            f"{i} {c:.3f}" + (f" ({predicted[act, i]:.3f})" if (act, i) in predicted.index else "")
            for i, c in cosine.loc[act].items()
        )
        said = "(reported; in brackets the correlation map's prediction)" if len(predicted) else "(reported)"
        v.add(f"{act}: example_cosine, last hidden layer, step 0", shown, said, True)
    trained = table.acc.reindex(cosine.index) > AT_CHANCE
    cut, side, errors = separation(cosine, trained)
    v.add(
        "one threshold on that example_cosine",
        f"trains when {side} {cut:.3f}: {errors} of {len(cosine)} cells wrong",
        "(reported: how well the correlation map separates training from not)",
        True,
    )


def spread_at_start(frames: Frames) -> pd.DataFrame:
    """Per activation x init, the means over seeds of the Jacobian dz_L/dz_1's mean squared
    singular value at step 0 and of its spread, Var(s^2) / mean(s^2)^2 (the variance of JJ^T's
    eigenvalues apart from their scale, which chi already measures); empty where the runs
    recorded no spectrum (probe.spectrum=0)."""
    import pandas as pd

    from annlab.read import spectra
    from annlab.read.store import load_spectra

    recorded = load_spectra(frames.usable, frames.uri) if frames.uri else pd.DataFrame()
    per_run = spectra.moments(recorded, frames.usable)
    if per_run.empty:
        return pd.DataFrame(columns=["mean", "spread"])
    per_run = per_run.assign(spread=per_run.variance / per_run["mean"] ** 2)
    return per_run.groupby(["activation", "init"])[["mean", "spread"]].mean()


def _spread_rows(v: Verdict, frames: Frames, table: pd.DataFrame) -> None:
    """The Jacobian's spread per cell, where recorded, and how well one threshold on it separates
    the cells that train from those that do not (reported)."""
    found = spread_at_start(frames)
    if found.empty:
        v.add("spread of dz_L/dz_1 at step 0", "not recorded", "(reported: re-run with probe.spectrum=8)", True)
        return
    for act in sorted({a for a, _ in found.index}):
        shown = ", ".join(f"{i} {r.spread:.3g} ({r['mean']:.2g})" for i, r in found.loc[act].iterrows())
        v.add(f"{act}: spread Var(s^2)/mean^2 of dz_L/dz_1, step 0", shown, "(reported; in brackets mean(s^2))", True)
    trained = table.acc.reindex(found.index) > AT_CHANCE
    cut, side, errors = separation(found.spread, trained)
    v.add(
        "one threshold on that spread",
        f"trains when {side} {cut:.3g}: {errors} of {len(found)} cells wrong",
        "(reported: how well the Jacobian's spread separates training from not)",
        True,
    )


def check(frames: Frames) -> Verdict:
    need(frames, init=["xavier", "kaiming", "critical", "calibrated"], activation=["sigmoid", "relu"])
    v = Verdict()
    table = scores(frames)
    _reported_rows(v, table)
    _correlation_rows(v, frames, table)
    _spread_rows(v, frames, table)
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
