"""The Jacobian spectra as tidy frames: each run's moments of JJ^T's eigenvalues beside the theory's."""

from __future__ import annotations

import numpy as np
import pandas as pd

from annlab.read.analysis import KEYS, with_runs

# A cell of a spectrum study: the grid keys, the init's own params (the critical line's q*)
CELL = [*KEYS, "init_params"]


def moments(spectra: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per run: the mean and variance of JJ^T's eigenvalues (the squared singular values), each
    example's, averaged over its examples, beside the theory's for each example, averaged alike,
    with the runs' cell columns and seed. Empty where no run recorded a spectrum."""
    if spectra.empty:
        return pd.DataFrame(columns=["run_id", "mean", "variance", "predicted_mean", "predicted_variance"])
    eig = spectra.assign(eig=spectra.singular_value.astype(float) ** 2)
    per_example = eig.groupby(["run_id", "example"]).eig.agg(mean="mean", variance=lambda v: float(np.var(v)))
    measured = per_example.groupby("run_id").mean()
    # each example's own prediction (recorded since 2026-12-06; before, one per run), averaged alike
    per_example_theory = spectra.groupby(["run_id", "example"])[["predicted_mean", "predicted_variance"]].first()
    theory = per_example_theory.groupby("run_id").mean()
    return with_runs(measured.join(theory).reset_index(), runs, [*CELL, "seed"])


def cells(per_run: pd.DataFrame, keys: list[str] = CELL) -> pd.DataFrame:
    """`moments` per cell (`keys`): the mean over seeds of every column, and the seeds' count."""
    values = ["mean", "variance", "predicted_mean", "predicted_variance"]
    out = per_run.groupby(keys)[values].mean()
    return out.assign(n=per_run.groupby(keys).size()).reset_index()


def log_singular_values(spectra: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Every recorded singular value as log10 (zeros left out), with the runs' cell columns and the
    theory's mean and variance of s^2: what the spectrum page draws."""
    positive = spectra[spectra.singular_value > 0]
    frame = positive.assign(log10_s=np.log10(positive.singular_value.astype(float)))
    return with_runs(frame[["run_id", "log10_s", "predicted_mean", "predicted_variance"]], runs, CELL)
