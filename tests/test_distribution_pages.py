"""Glorot-style pages from a shrunken saturation_glorot2010 sweep: what they must show, read from the histograms."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import fresh_store
from test_reports import figure_problems

from annlab.config import parse_config
from annlab.read import layer_distributions as dists
from annlab.read.pages import FIGURES, Options
from annlab.read.store import Frames, load, load_distributions
from annlab.train.job import run_job


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory, composed: Callable[..., dict]) -> Frames:
    """saturation_glorot2010 for sigmoid at both inits, one seed, 4 of its 10 epochs."""
    uri = fresh_store(tmp_path_factory.mktemp("glorot"))
    for init in ("pytorch", "xavier"):
        overrides = ["+experiments=saturation_glorot2010", "activation=sigmoid", f"init={init}", "trainer.epochs=4"]
        run_job(parse_config(composed(overrides)), uri=uri)
    return load(uri)


@pytest.fixture(scope="module")
def dist(frames: Frames) -> pd.DataFrame:
    return load_distributions(frames.usable, frames.uri)


def test_sigmoid_top_layer_moves_towards_zero_while_layer_one_stays_centred(frames: Frames, dist: pd.DataFrame) -> None:
    a = dists.tidy(dists.histograms(dist, frames.usable, "a", ends_only=False))
    median = dists.quantile(a, 0.5)
    for init in ("pytorch", "xavier"):
        m = median.loc["sigmoid", init, 4].unstack("layer")  # rows: recorded steps, columns: layers
        steps = sorted(m.index, key=int)
        top, first = m[4].reindex(steps), m[1].reindex(steps)
        assert abs(top.iloc[0] - 0.5) < 0.05  # centred at initialisation
        assert top.iloc[-1] < 0.4 and top.iloc[-1] < top.iloc[0] - 0.1, top.tolist()  # moved towards 0
        assert (first.sub(0.5).abs() < 0.05).all(), first.tolist()  # layer 1 stays near 0.5
        # and the mass below 0.3 in the top layer grew: the histogram, not just its median
        low = a[(a.init == init) & (a.layer == 4) & (a.hi <= 0.3)].groupby("when").share.sum()
        assert low[steps[-1]] > low[steps[0]] + 0.2


def test_sigmoid_xavier_gradients_fall_layer_by_layer_towards_the_input(frames: Frames, dist: pd.DataFrame) -> None:
    g = dists.tidy(dists.folded(dists.histograms(dist, frames.usable, "grad_z")))
    median = dists.quantile(g, 0.5).loc["sigmoid", "xavier", 4, "init"].sort_index()
    assert list(median.index) == [1, 2, 3, 4]
    assert np.all(np.diff(np.log10(median.to_numpy())) > 0.2), median.tolist()  # each layer below the next


def test_folding_keeps_every_count(dist: pd.DataFrame, frames: Frames) -> None:
    h = dists.histograms(dist, frames.usable, "grad_w")
    f = dists.folded(h)
    assert all(int(np.sum(a)) == int(np.sum(b)) for a, b in zip(h.counts, f.counts, strict=True))


def _panels_with_pixels(fig: object) -> list[str]:
    """Titles of the visible panels with no coloured pixel inside their axes."""
    from matplotlib.figure import Figure

    assert isinstance(fig, Figure)
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(np.int16)  # type: ignore[attr-defined]
    height = pixels.shape[0]
    empty = []
    for ax in fig.axes:
        if not ax.get_visible() or not ax.get_title():
            continue
        box = ax.get_window_extent()
        part = pixels[int(height - box.y1) + 2 : int(height - box.y0) - 2, int(box.x0) + 2 : int(box.x1) - 2]
        coloured = np.abs(part - part.mean(axis=2, keepdims=True)).max(axis=2) > 40
        if coloured.mean() < 0.001:
            empty.append(ax.get_title())
    return empty


@pytest.mark.parametrize("key", ["activation_distributions", "gradient_distributions", "activations"])
def test_each_page_draws_every_panel(frames: Frames, key: str, tmp_path: Path) -> None:
    pages, why = FIGURES[key][1](frames, Options())
    assert len(pages) == 1, why
    fig = pages[0]
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]
    if key != "activations":
        steps = sorted(set(dist_steps(frames)))
        expected = [
            f"sigmoid + {i}, depth 4: step {s}" for i, s in itertools.product(("pytorch", "xavier"), (0, steps[-1]))
        ]
        assert titles == expected
        assert "counts summed over the 1 run of each panel (seeds, datasets" in fig._suptitle.get_text()  # type: ignore[union-attr]
    else:
        assert titles == ["sigmoid"]
    assert figure_problems(fig) == []
    assert _panels_with_pixels(fig) == []


def dist_steps(frames: Frames) -> list[int]:
    return load_distributions(frames.usable, frames.uri).step.tolist()


def test_runs_without_the_record_skip_the_pages_and_say_why(frames: Frames) -> None:
    bare = Frames(frames.runs, frames.layers, frames.epochs, "")
    pages, why = FIGURES["activation_distributions"][1](bare, Options())
    assert pages == [] and "no distributions recorded" in why


def test_both_pages_read_the_record_once(frames: Frames, monkeypatch: pytest.MonkeyPatch) -> None:
    from annlab.read import store

    reads = []
    real = store.load_distributions
    monkeypatch.setattr(store, "load_distributions", lambda runs, uri: reads.append(len(runs)) or real(runs, uri))
    fresh = Frames(frames.runs, frames.layers, frames.epochs, frames.uri)
    for key in ("activation_distributions", "gradient_distributions"):
        assert FIGURES[key][1](fresh, Options())[0]
    assert reads == [2]
    fresh.runs = fresh.runs.iloc[:1]  # other runs: read again
    assert FIGURES["activation_distributions"][1](fresh, Options())[0]
    assert reads == [2, 1]
