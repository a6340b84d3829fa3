"""Figures from aggregated frames: seaborn facet grids of mean lines with interval bands, heatmaps, text."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence

import matplotlib

matplotlib.use("Agg")  # reports are files; no display needed
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, NullLocator

PAGE = (11.0, 8.5)  # landscape letter, inches
plt.rcParams.update({"pdf.fonttype": 42, "ps.fonttype": 42})  # real text in the PDF, searchable

# Where each drawn quantity lives: a band never leaves it (a loss or a norm is positive, a share
# or an accuracy lies in [0, 1], a cosine in [-1, 1]).
POSITIVE = (0.0, math.inf)
SHARE = (0.0, 1.0)
COSINE = (-1.0, 1.0)
ANY = (-math.inf, math.inf)

Colours = dict[object, tuple[float, float, float]]


class Grid(sns.FacetGrid):
    """seaborn's FacetGrid, laid out once, by the page (`_page`): FacetGrid lays the figure out
    as it is made and after every map, each a full pass over every tick label, and the page is
    resized and laid out again afterwards anyway."""

    def tight_layout(self, *args: object, **kwargs: object) -> Grid:
        return self


def palette(names: Sequence[object], name: str = "colorblind") -> Colours:
    """A fixed colour per name (sorted), the same on every panel of a page."""
    keys = sorted(set(names), key=str)
    return dict(zip(keys, sns.color_palette(name, max(len(keys), 1)), strict=False))


def _line_with_band(data: pd.DataFrame, x: str, domain: tuple[float, float], log: bool, **kws: object) -> None:
    """One aggregated line on the current facet: the mean, and its interval as a band where it
    rests on two or more runs; a point resting on one run has no spread to show, so no band."""
    ax = plt.gca()
    data = data.sort_values(x)
    colour, label = kws.get("color"), kws.get("label")
    ax.plot(data[x], data["mean"], marker="o", markersize=3, color=colour, label=label)
    several = data["n"] > 1
    if not several.any():
        return
    lo, hi = data["lo"].clip(*domain), data["hi"].clip(*domain)
    if log:  # a log axis cannot show a band that reaches zero
        lo = lo.where(lo > 0, data["mean"] / 10)
    ax.fill_between(data[x], lo.where(several), hi.where(several), color=colour, alpha=0.2, linewidth=0)


def runs_note(agg: pd.DataFrame) -> str:
    """How many runs each drawn point rests on, for the page's title."""
    counts = sorted({int(n) for n in agg["n"]})
    if not counts:
        return ""
    shown = str(counts[0]) if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    single = "; a point on 1 run has no band" if counts[0] == 1 else ""
    return f"each point rests on {shown} run{'s' if counts[-1] > 1 else ''} (seeds){single}"


def lines(
    agg: pd.DataFrame,
    *,
    x: str,
    hue: str,
    panel: str,
    title: str,
    labels: tuple[str, str],
    domain: tuple[float, float] = ANY,
    log: bool = False,
    colours: Colours | None = None,
    legend: str | None = None,
    note: bool = True,
) -> Grid:
    """A facet per value of `panel` (wrapped; no empty facet), a mean line with its interval band
    per value of `hue`. Returns the grid, so that a page can add to its axes."""
    order = list(dict.fromkeys(agg[panel]))
    colours = colours or palette(agg[hue])
    grid = Grid(
        agg,
        col=panel,
        col_order=order,
        col_wrap=facet_columns(len(order)),
        hue=hue,
        palette=colours,
        sharex=False,
        sharey=True,
        despine=False,
    )
    grid.map_dataframe(_line_with_band, x=x, domain=domain, log=log)
    if log:
        grid.set(yscale="log")
        positive = agg["mean"][agg["mean"] > 0]
        if len(positive) and positive.max() / positive.min() > 1e6:
            for ax in grid.axes.flat:  # minor ticks over many decades: unreadable, and seconds to lay out
                ax.yaxis.set_minor_locator(NullLocator())
    whole = pd.api.types.is_numeric_dtype(agg[x]) and bool((agg[x] % 1 == 0).all())  # layers, depths, epochs
    for ax in grid.axes.flat:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
        ax.tick_params(labelsize=7)
        lo, hi = ax.get_xlim()
        if whole and hi - lo < 1:  # one x in this facet: ticks at 1.96, 2.00, 2.04 would read as layers
            centre = round((lo + hi) / 2)
            ax.set_xlim(centre - 1, centre + 1)
    grid.set_titles(col_template="{col_name}", size=8)
    grid.set_axis_labels("", "")
    _hue_legend(grid.figure, grid.hue_names, colours, legend or hue)
    _page(grid.figure, f"{title}\n({runs_note(agg)})" if note else title, labels, legend=True)
    return grid


def _hue_legend(fig: Figure, names: Sequence[object], colours: Colours, title: str) -> None:
    """A legend of the hue's lines at the page's right edge, beside the panels (`_page` leaves
    them room). Not seaborn's add_legend: that draws the whole figure twice to widen it, and the
    page is resized anyway."""
    handles = [Line2D([], [], color=colours[name], marker="o", markersize=3) for name in names]
    labels = [str(name) for name in names]
    fig.legend(handles, labels, title=title, frameon=False, loc="center right", bbox_to_anchor=(0.995, 0.5))


def facet_columns(panels: int) -> int:
    """Facets per row: a near-square grid on a landscape page (4 -> 2 x 2, 6 -> 3 x 2, 12 -> 4 x 3)."""
    return max(1, math.ceil(math.sqrt(panels)))


def _page(fig: Figure, title: str, labels: tuple[str, str], legend: bool) -> None:
    fig.set_size_inches(*PAGE)
    wrapped = "\n".join(textwrap.fill(part, 120) for part in title.split("\n"))
    fig.suptitle(wrapped, fontsize=11, fontweight="bold")
    fig.supxlabel(labels[0], fontsize=10)
    fig.supylabel(labels[1], fontsize=10)
    fig.tight_layout(rect=(0.02, 0.02, 0.85 if legend else 0.99, 0.92))


def annotate(grid: Grid, draw: Callable[[str, plt.Axes], None]) -> None:
    """Call `draw(panel, ax)` on every facet of `grid` (theory lines, thresholds, notes)."""
    for name, ax in grid.axes_dict.items():
        draw(str(name), ax)


def predicted_lines(
    grid: Grid, theory: pd.DataFrame, panels: Sequence[str], hue: str, x: str, colours: Colours
) -> None:
    """`theory`'s `predicted` column dashed over `grid`: a line per value of `hue` on each facet
    (facets named by `panels` columns, as panel_labels names them), in the hue's colour, the mean
    over the rows of one x."""
    if theory.empty:
        return
    names = panel_labels(theory, *panels)

    def draw(panel: str, ax: plt.Axes) -> None:
        for key, part in theory[names == panel].groupby(hue):
            part = part.groupby(x, as_index=False).predicted.mean()
            ax.plot(part[x], part.predicted, linestyle="--", linewidth=1.6, color=colours[key])

    annotate(grid, draw)


def heatmaps(
    agg: pd.DataFrame, *, panel: str, index: str, columns: str, title: str, vmin: float, vmax: float
) -> Figure:
    """A heatmap of `mean` over index x columns per value of `panel` (wrapped), one colour scale."""

    def draw(data: pd.DataFrame, **kws: object) -> None:
        table = data.pivot_table(index=index, columns=columns, values="mean")
        sns.heatmap(
            table,
            ax=plt.gca(),
            annot=True,
            fmt=".2f",
            cmap="viridis",
            cbar=False,
            vmin=vmin,
            vmax=vmax,
            annot_kws={"fontsize": 8},
        )
        plt.gca().set(xlabel="", ylabel="")  # the page labels both axes once

    order = list(dict.fromkeys(agg[panel]))
    grid = Grid(agg, col=panel, col_order=order, col_wrap=facet_columns(len(order)), sharex=False, sharey=False)
    grid.map_dataframe(draw)
    grid.set_titles(col_template="{col_name}", size=9)
    for ax in grid.axes.flat:
        ax.tick_params(labelsize=7)
    fig = grid.figure
    _page(fig, title, (columns, index), legend=True)
    bar = fig.add_axes((0.89, 0.15, 0.02, 0.7))
    fig.colorbar(plt.cm.ScalarMappable(plt.Normalize(vmin, vmax), cmap="viridis"), cax=bar)
    return fig


TEXT_TOP, TEXT_BOTTOM = 0.90, 0.04


def text_pages(title: str, sections: list[tuple[str, list[str]]], width: int = 140) -> list[Figure]:
    """Headed lists of lines, wrapped to the page width, on as many pages as they need: a line
    that does not fit goes to the next page (headed "continued"), never off the page."""
    pages: list[Figure] = []
    y = TEXT_BOTTOM

    def room(needed: float, heading: str, continued: bool) -> None:
        nonlocal y
        if y - needed >= TEXT_BOTTOM and pages:
            return
        fig = plt.figure(figsize=PAGE)
        more = f" (page {len(pages) + 1})" if pages else ""
        fig.suptitle(title + more, fontsize=16 if not pages else 12, fontweight="bold", y=0.97)
        pages.append(fig)
        y = TEXT_TOP
        if continued:
            fig.text(0.05, y, heading + " (continued)", fontsize=11, fontweight="bold", va="top")
            y -= 0.035

    for heading, body in sections:
        room(0.035 + 0.024, heading, continued=False)
        pages[-1].text(0.05, y, heading, fontsize=11, fontweight="bold", va="top")
        y -= 0.035
        for line in body:
            for i, chunk in enumerate(textwrap.wrap(line, width) or [""]):
                room(0.024, heading, continued=True)
                pages[-1].text(0.07 if i == 0 else 0.09, y, ("- " if i == 0 else "") + chunk, fontsize=8.5, va="top")
                y -= 0.024
        y -= 0.015
    return pages


def spread(values: Sequence[int], n: int) -> list[int]:
    """At most `n` of the sorted `values`, spread from the first to the last."""
    values = sorted(values)
    if len(values) <= n:
        return list(values)
    return [values[int(i)] for i in np.unique(np.round(np.linspace(0, len(values) - 1, n)))]


def panel_labels(frame: pd.DataFrame, *columns: str) -> pd.Series:
    """A facet label per row, e.g. "init=xavier, depth=3", in sorted order of the columns."""
    return frame[list(columns)].astype(str).apply(lambda r: ", ".join(f"{c}={r[c]}" for c in columns), axis=1)


def sorted_panels(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    return frame.sort_values(list(columns)).assign(panel=lambda d: panel_labels(d, *columns))
