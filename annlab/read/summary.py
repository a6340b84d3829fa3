"""The report's summary: what ran, what it found, what failed, which pages were left out and why."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from annlab.read import analysis, figures
from annlab.read.store import Frames

MAX_PROBLEM_LINES = 200


def grid_lines(runs: pd.DataFrame) -> list[str]:
    """Every value of each grid column the runs hold."""
    lines = []
    for col in ("model", "activation", "init", "depth", "dataset", "seed"):
        values = sorted(runs[col].dropna().unique().tolist(), key=str)
        lines.append(f"{col}: {', '.join(map(str, values))}")
    return lines


def problem_lines(runs: pd.DataFrame) -> list[str]:
    """The failed, diverged or unfinished runs by name, with their reasons."""
    problems = runs[(runs.status != "FINISHED") | runs.diverged]
    lines = [
        f"{r.run_name}: {'DIVERGED' if r.diverged else r.status}" + (f" ({r.reason})" if r.reason else "")
        for r in problems.itertuples()
    ]
    if len(lines) > MAX_PROBLEM_LINES:
        lines = [*lines[:MAX_PROBLEM_LINES], f"... and {len(lines) - MAX_PROBLEM_LINES} more"]
    return lines or ["none"]


def finding_lines(f: Frames, threshold: float) -> list[str]:
    """The findings in one sentence each, with their numbers."""
    if f.layers.empty:
        return ["no per-layer data to draw findings from"]
    ratios = analysis.vanishing_ratios(f.layers, f.usable)
    crossings = (
        analysis.crossing_depths(analysis.vanishing_depth(ratios), threshold)
        if len(ratios)
        else pd.DataFrame(columns=["crossing_depth"])
    )
    sym = analysis.symmetry(f.layers, f.usable)
    return analysis.findings(crossings, analysis.outcomes(f.usable), sym, threshold) or ["none"]


def summary_sections(
    experiment: str, f: Frames, drawn: list[str], skipped: dict[str, str], threshold: float
) -> list[tuple[str, list[str]]]:
    runs = f.runs
    counts = analysis.status_counts(runs)
    return [
        (
            "Runs",
            [
                f"experiment: {experiment}; {len(runs)} runs: " + ", ".join(f"{v} {k}" for k, v in counts.items()),
                f"dates: {runs.start_time.min():%Y-%m-%d %H:%M} to {runs.start_time.max():%Y-%m-%d %H:%M} (UTC)",
                f"code version: {', '.join(sorted(set(runs.code_version)))}",
                "only finished, non-diverged runs are drawn; seeds are aggregated as mean with a 95% t-interval",
            ],
        ),
        ("Grid", grid_lines(runs)),
        ("Findings", finding_lines(f, threshold)),
        ("Failed, diverged or unfinished runs (not drawn)", problem_lines(runs)),
        ("Pages", [f"drawn: {', '.join(drawn) or 'none'}"] + [f"skipped {k}: {why}" for k, why in skipped.items()]),
    ]


def summary_pages(
    experiment: str, f: Frames, drawn: list[str], skipped: dict[str, str], threshold: float
) -> list[Figure]:
    """The summary as text pages (as many as it needs)."""
    return figures.text_pages(
        f"annlab report: {experiment}", summary_sections(experiment, f, drawn, skipped, threshold)
    )
