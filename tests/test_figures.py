"""Figures never draw the impossible: bands stay in their quantity's domain, one run has no band,
and the summary never drops a line."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection

from annlab.read import figures


def agg(n: int) -> pd.DataFrame:
    """Two seeds of a share whose t-interval runs far outside [0, 1]."""
    return pd.DataFrame(
        {
            "panel": "p",
            "line": "a",
            "x": [0, 1, 2],
            "mean": [0.05, 0.5, 0.95],
            "lo": [-0.6, -0.2, 0.3],
            "hi": [0.7, 1.2, 1.6],
            "n": n,
        }
    )


def bands(grid: object) -> list[np.ndarray]:
    return [p.get_paths()[0].vertices for ax in grid.axes.flat for p in ax.collections if isinstance(p, PolyCollection)]  # type: ignore[attr-defined]


def test_a_band_never_leaves_its_domain() -> None:
    grid = figures.lines(agg(2), x="x", hue="line", panel="panel", title="t", labels=("x", "y"), domain=figures.SHARE)
    (band,) = bands(grid)
    assert band[:, 1].min() >= 0.0 and band[:, 1].max() <= 1.0
    assert "each point rests on 2 runs" in grid.figure.get_suptitle()


def test_one_observation_is_a_point_without_a_band_and_the_page_says_so() -> None:
    grid = figures.lines(agg(1), x="x", hue="line", panel="panel", title="t", labels=("x", "y"), domain=figures.SHARE)
    assert bands(grid) == []
    assert "each point rests on 1 run" in grid.figure.get_suptitle()
    assert "no band" in grid.figure.get_suptitle()


def test_a_positive_quantity_on_a_log_axis_keeps_its_band_above_zero() -> None:
    grid = figures.lines(
        agg(3), x="x", hue="line", panel="panel", title="t", labels=("x", "y"), domain=figures.POSITIVE, log=True
    )
    (band,) = bands(grid)
    assert band[:, 1].min() > 0


def test_the_summary_continues_on_further_pages_and_drops_nothing() -> None:
    lines = [f"run-{i:03d}: FAILED (reason {i})" for i in range(120)]
    pages = figures.text_pages("annlab report: x", [("Runs", ["one"]), ("Failed", lines), ("Pages", ["drawn: all"])])
    assert len(pages) >= 3
    text = [t.get_text() for page in pages for t in page.texts]
    for line in lines:
        assert f"- {line}" in text
    assert "- drawn: all" in text and "Failed (continued)" in text
    for page in pages:
        assert min(t.get_position()[1] for t in page.texts) >= figures.TEXT_BOTTOM - 0.03  # nothing off the page


def test_a_facet_with_one_layer_ticks_whole_layers_and_the_legend_names_every_line() -> None:
    """A zero init leaves one layer with a gradient on a log axis: its facet once read 1.92, 1.96."""
    two = pd.concat([agg(2), agg(2).assign(panel="q", x=4, line="b")])
    grid = figures.lines(two, x="x", hue="line", panel="panel", title="t", labels=("x", "y"), domain=figures.SHARE)
    grid.figure.draw_without_rendering()
    one = grid.axes_dict["q"]
    assert one.get_xlim() == (3.0, 5.0)
    assert [t for t in one.get_xticks() if 3 <= t <= 5] == [3.0, 4.0, 5.0]
    (legend,) = grid.figure.legends
    assert [t.get_text() for t in legend.get_texts()] == ["a", "b"] and legend.get_title().get_text() == "line"
    anchor = legend.get_bbox_to_anchor().transformed(grid.figure.transFigure.inverted())
    assert (round(anchor.x0, 3), round(anchor.y0, 3)) == (0.995, 0.5)  # at the page's right edge, beside the panels
