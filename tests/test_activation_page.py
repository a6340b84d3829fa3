"""The seed's activation pictures: curves by autograd, the seed's statements measured, a page without a store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pypdf import PdfReader

from annlab.read.activation_page import HIDDEN, curves, figure, measured

ROOT = Path(__file__).resolve().parent.parent


def test_the_curves_show_what_the_seed_states() -> None:
    frame = curves(["sigmoid", "tanh", "relu", "leaky_relu"])
    by = {name: part for name, part in frame.groupby("activation")}
    sig, tanh, relu, leaky = by["sigmoid"], by["tanh"], by["relu"], by["leaky_relu"]
    assert sig.f.min() > 0 and sig.f.max() < 1 and sig.df.max() == pytest.approx(0.25)
    assert tanh.df.max() == pytest.approx(1.0) and tanh[tanh.x.abs() >= 3].df.max() < 0.01
    assert set(relu[relu.x != 0].df.round(12)) == {0.0, 1.0}
    assert leaky[leaky.x < 0].df.unique().tolist() == [pytest.approx(0.01)]
    assert "max f' 0.25" in measured(frame)["sigmoid"]


def test_every_panel_is_drawn_with_the_seed_statement_and_the_measurement() -> None:
    fig = figure(curves())
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == list(HIDDEN)
    for ax in panels:
        assert len(ax.lines) >= 2 and all(len(line.get_xdata()) == 481 for line in ax.lines[:2])
        assert "measured:" in ax.get_xlabel()
    assert "derivative at most 0.25" in panels[0].get_xlabel()


def test_the_standalone_page_needs_no_store(tmp_path: Path) -> None:
    out = tmp_path / "activations.pdf"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "reports" / "activations.py"), "--out", str(out), "--activation", "tanh"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not list(tmp_path.glob("*.db")) and not (tmp_path / "mlruns").exists()
    text = " ".join(PdfReader(out).pages[0].extract_text().split())  # the note wraps over lines
    assert "tanh" in text and "near 0 beyond |x| > 3" in text and "measured: f in [-1, 1]" in text


def test_prelu_panel_shows_the_slopes_the_runs_learned(config, store: str) -> None:  # type: ignore[no-untyped-def]
    from conftest import FAST

    from annlab.read.analysis import learned_slopes
    from annlab.read.store import load
    from annlab.train.job import run_job

    for seed in (0, 1):
        run_job(config(*FAST, "activation=prelu", "model.depth=3", f"seed={seed}", "optimizer.lr=0.5"), uri=store)
    frames = load(store)
    slopes = learned_slopes(frames.layers, frames.usable)
    assert list(slopes.layer) == [1, 2, 3] and (slopes.n == 2).all()
    last = frames.layers[(frames.layers.stat == "act_param_mean") & (frames.layers.step == frames.layers.step.max())]
    assert slopes["mean"].tolist() == pytest.approx(last.groupby("layer").value.mean().tolist())
    assert not np.allclose(slopes["mean"], 0.25)  # they moved from PReLU's start
    fig = figure(curves(["prelu"]), slopes)
    (ax,) = [a for a in fig.axes if a.get_visible()]
    dotted = [line for line in ax.lines if line.get_linestyle() == ":"]
    drawn = sorted(float(line.get_ydata()[0] / line.get_xdata()[0]) for line in dotted)
    assert drawn == pytest.approx([slopes["mean"].min(), slopes["mean"].max()])
    assert "learned slope per hidden layer at the end (mean of 2 runs" in " ".join(ax.get_xlabel().split())
    # PReLU's values on both signs: the symmetric log axis of its distributions keeps its ticks apart.
    from test_reports import figure_problems

    from annlab.read.pages import FIGURES, Options

    for key in ("activation_distributions", "gradient_distributions"):
        (page,) = FIGURES[key][1](frames, Options())[0]
        assert figure_problems(page) == [], key
