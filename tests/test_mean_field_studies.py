"""The studies beyond the mean (dynamical_isometry, depth_scales): their reading of the record on
known frames, their pages, and shrunken grids through the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Result

from annlab.net.correlation import critical_sigma_w2, depth_scale
from annlab.read import analysis, depth_scales, mean_field_pages, spectra
from annlab.studies.cli import check_study, run_study


def test_steps_to_half_the_loss_interpolates_between_epochs() -> None:
    epochs = pd.DataFrame(
        {
            "run_id": ["a"] * 4 + ["b"] * 4,
            "epoch": [0, 1, 2, 3] * 2,
            "metric": "train/loss",
            "value": [2.0, 1.5, 0.8, 0.5, 2.0, 1.9, 1.8, 1.7],
        }
    )
    runs = pd.DataFrame({"run_id": ["a", "b"], "steps": [30.0, 30.0]})  # 10 steps an epoch
    steps = analysis.steps_to_fraction(epochs, runs, 0.5)
    assert steps["a"] == pytest.approx(10 + 10 * (1.5 - 1.0) / (1.5 - 0.8))
    assert np.isnan(steps["b"])  # never within its run


def test_spectrum_moments_per_example_then_averaged() -> None:
    rows = [("r", 0, k, s) for k, s in enumerate([1.0, 2.0])] + [("r", 1, k, s) for k, s in enumerate([1.0, 1.0])]
    frame = pd.DataFrame(rows, columns=["run_id", "example", "index", "singular_value"]).assign(
        step=0, predicted_mean=1.0, predicted_variance=0.5
    )
    runs = pd.DataFrame(
        {"run_id": ["r"], "activation": ["tanh"], "init": ["critical_line"], "depth": [4], "dataset": ["digits"]}
    ).assign(init_params="q_star=1.0", seed=0)
    out = spectra.moments(frame, runs).iloc[0]
    # example 0: s^2 = 1, 4 (mean 2.5, variance 2.25); example 1: 1, 1 (mean 1, variance 0)
    assert (out["mean"], out["variance"]) == pytest.approx((1.75, 1.125))
    assert out.predicted_variance == 0.5 and out.init_params == "q_star=1.0"


def test_tanhs_critical_sigma_w2_at_sigma_b2_005() -> None:
    """Schoenholz et al. 2017, Fig. 1: the order-to-chaos line of tanh at sigma_b^2 = 0.05 is at ~1.76."""
    crit = critical_sigma_w2("tanh", None, 0.05)
    assert crit == pytest.approx(1.76, abs=0.01)
    assert depth_scale("tanh", None, crit, 0.05).xi_c > 200  # diverges at the line


def _network(run_id: str, sigma_w2: float, depth: int) -> pd.DataFrame:
    layers = range(1, depth + 2)
    return pd.DataFrame(
        {
            "run_id": run_id,
            "layer": list(layers),
            "sigma_w2": [1.0] + [sigma_w2] * depth,
            "sigma_b2": 0.05,
            "activation": "tanh",
            "activation_params": json.dumps({}),
        }
    )


def test_depth_scale_cells_read_trained_cells_and_their_xi() -> None:
    grid = [(0.5, 4, 0.9), (0.5, 32, 0.1), (1.76, 32, 0.95), (1.76, 4, 1.0), (4.0, 32, 0.2), (4.0, 4, 0.99)]
    ids = [f"r{i}" for i in range(len(grid))]
    runs = pd.DataFrame({"run_id": ids, "activation": "tanh", "depth": [d for _, d, _ in grid]}).assign(
        status="FINISHED", diverged=False
    )
    runs.loc[4, "diverged"] = True  # a lost run counts as not trained, whatever it logged
    epochs = pd.DataFrame({"run_id": ids, "epoch": 5, "metric": "train/acc", "value": [a for *_, a in grid]})
    networks = pd.concat([_network(i, s, d) for i, (s, d, _) in zip(ids, grid, strict=True)])
    cells = depth_scales.cells(runs, epochs, networks)
    assert list(cells.trained) == [1.0, 0.0, 1.0, 1.0, 1.0, 0.0]  # sorted by sigma_w2, depth
    assert cells.xi_c.iloc[0] == pytest.approx(1.19, abs=0.01)
    assert list(depth_scales.deepest_trainable(cells)) == [4, 32, 4]
    assert depth_scales.critical(cells).critical.iloc[0] == pytest.approx(1.76, abs=0.01)
    fig = mean_field_pages.depth_scales_figure(
        cells, depth_scales.curves(cells, points=8), depth_scales.critical(cells)
    )
    assert fig._suptitle is not None and fig._suptitle.get_text().startswith("Depth scales")
    drawn = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "6 xi_c" in drawn and "3 xi_c" in drawn  # 9 xi_c lies above depth 32 for every sigma_w^2 here


def test_spectrum_page_draws_a_panel_per_cell() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "run_id": "r",
            "log10_s": rng.normal(0, 0.3, 400),
            "predicted_mean": 1.0,
            "predicted_variance": 0.5,
            "activation": np.repeat(["tanh", "relu"], 200),
            "init": "critical_line",
            "init_params": "q_star=1.0",
            "depth": np.tile([4, 16], 200),
            "dataset": "digits",
        }
    )
    fig = mean_field_pages.spectrum_figure(frame)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert titles == ["critical_line q_star=1.0\ndepth 4", "critical_line q_star=1.0\ndepth 16"]


@pytest.mark.slow  # 12 jobs to depth 64: ~40 s
def test_shrunken_depth_scales_holds(tmp_path: Path, capsys: pytest.CaptureFixture, cli: Callable[..., Result]) -> None:
    grid = ["init.params.gain=0.7071067811865476,1.3266499161421599,2.0", "model.depth=4,8,16,64"]
    proc = cli(["-m", "+experiments=depth_scales", *grid], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    code = check_study("depth_scales", f"sqlite:///{tmp_path / 'mlflow.db'}")
    out = capsys.readouterr().out
    assert code == 0 and "finding HOLDS" in out, out


@pytest.mark.slow
def test_depth_scales_does_not_hold_where_nothing_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture, cli: Callable[..., Result]
) -> None:
    """One epoch at a tiny learning rate: no cell trains, so the shallow cells fail their share."""
    grid = ["init.params.gain=0.7071067811865476,1.3266499161421599,2.0", "model.depth=4,16", "trainer.epochs=1"]
    proc = cli(["-m", "+experiments=depth_scales", *grid, "optimizer.lr=1e-6"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert check_study("depth_scales", f"sqlite:///{tmp_path / 'mlflow.db'}") == 1
    out = capsys.readouterr().out
    assert "finding DOES NOT HOLD" in out and "NO  cells with depth <= 3 xi_c" in out


@pytest.mark.slow  # 16 step-0 jobs and 2 one-epoch trainings: ~30 s
def test_shrunken_dynamical_isometry_does_not_hold_where_training_is_cut_short(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both parts through `annlab.study run`, the training cut to one epoch (12 steps): neither
    weight kind halves its loss, so the training row and the finding do not hold, while the
    spectrum's rows (tanh near isometry, relu's growth) read as in the full study."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    grid = [
        "activation=tanh,relu",
        "model.depth=4,16",
        "seed=0",
        "trainer.epochs=1",
        f"tracking.uri={uri}",
        "progress=off",
    ]
    assert run_study("dynamical_isometry", grid) == 0
    assert check_study("dynamical_isometry", uri) == 1
    out = capsys.readouterr().out
    assert "finding DOES NOT HOLD" in out
    assert "ok  tanh q*=0.015625 d16: orthogonal against Gaussian Var(s^2)" in out
    assert "ok  relu Gaussian: Var(s^2) over depth" in out and "ok  relu orthogonal: Var(s^2) over depth" in out
    assert "ok  tanh q*=0.015625 orthogonal d16 w256" in out
    training = next(line for line in out.splitlines() if "training: steps to half the initial loss" in line)
    # the overrides reach both grids: the training part runs at depth 16 too
    assert training.startswith("NO  tanh q*=0.015625 d16") and "orthogonal never, Gaussian never" in training
