"""Study dynamical_isometry: the check of its finding (the grids are experiments/dynamical_isometry*.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from annlab.lazy import lazy
from annlab.studies.common import MissingData, Study, Verdict, need

if TYPE_CHECKING:
    import pandas as pd

    from annlab.read.store import Frames

analysis = lazy("annlab.read.analysis")

FINDING = (
    "chi = 1 fixes the mean of the Jacobian's squared singular values, not their spread: their variance "
    "follows L (mu_2 / mu_1^2 - 1 - s_1) (Pennington et al. 2017); tanh near q* = 0 stays near isometry with "
    "orthogonal weights and spreads with Gaussian ones, relu spreads with depth under both, and the isometric "
    "tanh net trains faster"
)
WITHIN = 0.3  # measured variance within this share of the prediction ...
ABSOLUTE, SMALL = 0.05, 0.17  # ... or within 0.05 where the prediction is below 0.17
ISOMETRY_SHARE = 0.1  # tanh at the small q*, deepest: orthogonal's variance below this share of Gaussian's
SMALL_Q = 0.015625
FASTER = 0.7  # orthogonal reaches half its initial training loss in at most this share of Gaussian's steps
HALF = 0.5
GAUSSIAN, ORTHOGONAL = "critical_line", "critical_line_orthogonal"
TRAINING_WIDTH = 128  # the second part's runs (experiments/dynamical_isometry_training.yaml)


def q_star(init_params: str) -> str:
    """The q* of a run's init params ("q_star=0.015625" -> "0.015625")."""
    found = dict(kv.split("=", 1) for kv in init_params.split(", ") if "=" in kv)
    return found.get("q_star", "?")


def _kind(init: str) -> str:
    return "orthogonal" if init.endswith("orthogonal") else "Gaussian"


def spectrum_cells(frames: Frames) -> pd.DataFrame:
    """Per activation x q* x init x depth x width: mean over seeds of the measured and predicted
    moments of JJ^T's eigenvalues (annlab.read.spectra)."""
    from annlab.read import spectra
    from annlab.read.store import load_spectra

    per_run = spectra.moments(load_spectra(frames.usable, frames.uri), frames.usable)
    if per_run.empty:
        raise MissingData("the runs recorded no Jacobian spectrum (probe.spectrum=0): re-run the study")
    per_run = per_run.merge(frames.usable[["run_id", "width"]], on="run_id")
    per_run = per_run.assign(q_star=per_run.init_params.map(q_star))
    return spectra.cells(per_run, ["activation", "q_star", "init", "depth", "width"])


def _agrees(measured: float, predicted: float) -> bool:
    if predicted < SMALL:
        return abs(measured - predicted) <= ABSOLUTE
    return abs(measured - predicted) <= WITHIN * predicted


def _spectrum_rows(v: Verdict, cells: pd.DataFrame) -> None:
    for r in cells.itertuples():
        v.add(
            f"{r.activation} q*={r.q_star} {_kind(r.init)} d{r.depth} w{r.width}: Var(s^2)",
            f"{r.variance:.3g} (mean {r.mean:.3g}; {r.n} seeds)",
            f"{r.predicted_variance:.3g} (mean {r.predicted_mean:.3g}) within "
            + (f"{ABSOLUTE:g}" if r.predicted_variance < SMALL else f"{WITHIN:.0%}"),
            _agrees(r.variance, r.predicted_variance),
        )


def _isometry_row(v: Verdict, cells: pd.DataFrame) -> None:
    tanh = cells[(cells.activation == "tanh") & (cells.q_star == str(SMALL_Q)) & (cells.width != TRAINING_WIDTH)]
    if tanh.empty:
        raise MissingData(f"no tanh runs at q* = {SMALL_Q:g}")
    deepest = tanh[tanh.depth == tanh.depth.max()].set_index("init").variance
    orth, gauss = float(deepest.get(ORTHOGONAL, float("nan"))), float(deepest.get(GAUSSIAN, float("nan")))
    v.add(
        f"tanh q*={SMALL_Q:g} d{tanh.depth.max()}: orthogonal against Gaussian Var(s^2)",
        f"{orth:.3g} against {gauss:.3g}",
        f"below {ISOMETRY_SHARE:g} of Gaussian's",
        orth < ISOMETRY_SHARE * gauss,
    )


def _relu_rows(v: Verdict, cells: pd.DataFrame) -> None:
    relu = cells[(cells.activation == "relu") & (cells.width != TRAINING_WIDTH)]
    for init, part in relu.groupby("init"):
        # relu's line is q*-free: the q* cells are one more seed each
        by_depth = part.groupby("depth").variance.mean().sort_index()
        shown = ", ".join(f"d{d} {x:.3g}" for d, x in by_depth.items())
        grows = len(by_depth) > 1 and bool((by_depth.diff().dropna() > 0).all())
        v.add(f"relu {_kind(str(init))}: Var(s^2) over depth", shown, "grows with depth", grows)


def _training_row(v: Verdict, frames: Frames) -> None:
    runs = frames.usable[frames.usable.width == TRAINING_WIDTH]
    if runs.empty or runs.init.nunique() < 2:
        raise MissingData("no runs of the training part (experiments/dynamical_isometry_training.yaml)")
    steps = analysis.steps_to_fraction(frames.epochs, runs, HALF)
    per_init = runs.assign(steps=runs.run_id.map(steps)).groupby("init").steps
    # the mean over the seeds that got there; "never" where none did within the budget
    mean = per_init.mean()
    orth, gauss = float(mean.get(ORTHOGONAL, float("nan"))), float(mean.get(GAUSSIAN, float("nan")))

    def shown(value: float) -> str:
        return "never" if value != value else f"{value:.0f}"

    ratio = f" (ratio {orth / gauss:.2f})" if orth == orth and gauss == gauss else ""
    v.add(
        f"tanh q*={SMALL_Q:g} d{int(runs.depth.iloc[0])} training: steps to half the initial loss",
        f"orthogonal {shown(orth)}, Gaussian {shown(gauss)}{ratio}",
        f"orthogonal at most {FASTER:g}x Gaussian's (or Gaussian never)",
        orth == orth and (gauss != gauss or orth <= FASTER * gauss),
    )


def check(frames: Frames) -> Verdict:
    need(frames, init=[GAUSSIAN, ORTHOGONAL], activation=["tanh", "relu"])
    cells = spectrum_cells(frames)
    v = Verdict()
    _spectrum_rows(v, cells)
    _isometry_row(v, cells)
    _relu_rows(v, cells)
    _training_row(v, frames)
    return v


STUDY = Study("dynamical_isometry", FINDING, check, parts=("dynamical_isometry_training",))
