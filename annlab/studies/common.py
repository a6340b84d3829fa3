"""What every study check shares: the verdict it prints, missing data, and per-layer selections."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from annlab.lazy import lazy

if TYPE_CHECKING:
    import pandas as pd

    from annlab.read.store import Frames

# Loaded at the first check, not at import: `python -m annlab.study list` stays light.
analysis = lazy("annlab.read.analysis")


@dataclass
class Verdict:
    """The rows a check prints: what, measured, expected, and whether it holds."""

    rows: list[tuple[str, str, str, bool]] = field(default_factory=list)

    def add(self, what: str, measured: str, expected: str, ok: bool) -> None:
        self.rows.append((what, measured, expected, bool(ok)))

    @property
    def holds(self) -> bool:
        return bool(self.rows) and all(ok for *_, ok in self.rows)

    def table(self) -> str:
        w = max((len(r[0]) for r in self.rows), default=4)
        m = max((len(r[1]) for r in self.rows), default=8)
        lines = [f"{'':4}{'what':<{w}}  {'measured':<{m}}  expected"]
        lines += [f"{'ok' if ok else 'NO':<4}{a:<{w}}  {b:<{m}}  {c}" for a, b, c, ok in self.rows]
        return "\n".join(lines)


class MissingData(RuntimeError):
    """The study's runs are not in the store (or lack what the check needs)."""


def scored_runs(frames: Frames, lost_score: float) -> pd.DataFrame:
    """The runs that ended (FINISHED or FAILED) with `score`, their val score, and `lost`, true for
    a run that diverged or failed: it did not train, so its score counts as `lost_score`."""
    runs = frames.runs[frames.runs.status.isin(["FINISHED", "FAILED"])]
    lost = runs.status.ne("FINISHED") | runs.diverged
    return runs.assign(score=runs.val_score.where(~lost, lost_score), lost=lost)


def hidden(frames: Frames, stat: str) -> pd.DataFrame:
    """`stat` rows of the hidden layers of usable runs, with the runs' grid columns."""
    runs = frames.usable
    rows = frames.layers[frames.layers.stat == stat]
    rows = analysis.with_runs(rows, runs)
    return rows[rows.layer <= rows.depth]


def need(frames: Frames, **values: Sequence[object]) -> None:
    runs = frames.usable
    for col, wanted in values.items():
        missing = sorted(set(wanted) - set(runs[col]), key=str)
        if missing:
            raise MissingData(f"no finished runs with {col} = {', '.join(map(str, missing))}")


def hidden_span(frames: Frames, stat: str, column: str, last_over_first: bool) -> pd.DataFrame:
    """Per run at step 0: log2 of `stat` at the last hidden layer over the first (or the
    inverse), in a column named `column`, with the runs' grid columns."""
    import numpy as np

    rows = hidden(frames, stat)
    rows = rows[rows.step == rows.groupby("run_id").step.transform("min")]
    first = rows[rows.layer == 1].set_index("run_id").value
    last = rows[rows.layer == rows.depth].set_index("run_id").value
    ratio = np.log2(last / first if last_over_first else first / last)
    return analysis.with_runs(ratio.rename(column).reset_index(), frames.usable)


def std_ratio(frames: Frames) -> pd.DataFrame:
    """log2 of the last hidden layer's a_std over the first's (forward signal)."""
    return hidden_span(frames, "a_std", "log2_ratio", last_over_first=True)


def grad_ratio(frames: Frames) -> pd.DataFrame:
    """log2 of the first hidden layer's grad_z_norm over the last's (backward signal)."""
    return hidden_span(frames, "grad_z_norm", "log2_grad", last_over_first=False)


@dataclass(frozen=True)
class Study:
    """A study: its finding in one sentence (the CLI and the README say it) and its check."""

    name: str
    finding: str
    check: Callable[[Frames], Verdict]
    # More grids of the same study, run after experiments/NAME.yaml (experiments/PART.yaml each)
    parts: tuple[str, ...] = ()


def measured_and_predicted(frames: Frames, agg: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """`agg` (the mean log10 first/output ratio per activation x init x depth) beside the
    mean-field prediction for the runs `cells`, from the networks they recorded (one run per
    cell: seeds share a prediction); cells without a prediction are left out."""
    from annlab.read import expected
    from annlab.read.store import load_networks

    keys = ["activation", "init", "depth"]
    networks = load_networks(cells.drop_duplicates(keys), frames.uri)
    if networks.empty:
        return agg.iloc[0:0].assign(predicted=[])
    return agg.merge(expected.log10_ratios(networks, cells, keys), on=keys).dropna(subset=["predicted"])
