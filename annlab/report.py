"""Report PDFs: tracked runs -> one multi-page PDF per experiment (`python reports/build.py`)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from annlab import analysis, plots
from annlab.store import Frames, StoreError, load, load_configs
from annlab.theory import prediction_for
from annlab.tracking import resolve_uri

DEFAULT_OUT = Path("reports") / "out"

Built = tuple[list[Figure], str]  # the pages drawn, or none and the reason


@dataclass
class Options:
    threshold: float = 1e-2


def _gradient_flow(f: Frames, o: Options) -> Built:
    if f.layers.empty:
        return [], "no per-layer stats in the finished runs"
    at_init = analysis.gradient_flow(f.layers, f.usable, "first")
    pages = [
        plots.gradient_flow(at_init, "step 0 (initialisation)", theory_profiles(f, at_init)),
        plots.gradient_flow(analysis.gradient_flow(f.layers, f.usable, "last"), "the end of training"),
    ]
    return pages, ""


def theory_profiles(f: Frames, at_init: pd.DataFrame) -> pd.DataFrame:
    """The mean-field ||dL/dz|| per layer for each grid cell at step 0, anchored at the
    measured output layer (one run's config stands for its cell; seeds share it)."""
    cells = f.usable.drop_duplicates(analysis.KEYS)
    if not f.uri or cells.empty:
        return pd.DataFrame()
    configs = load_configs(cells, f.uri)
    rows = []
    for run in cells.itertuples():
        prediction = prediction_for(configs[run.run_id])
        cell = at_init[
            (at_init.activation == run.activation)
            & (at_init.init == run.init)
            & (at_init.depth == run.depth)
            & (at_init.dataset == run.dataset)
        ]
        output = cell[cell.layer == run.depth + 1]["mean"]
        if output.empty or not all(map(np.isfinite, prediction.chi)):
            continue
        for layer, value in enumerate(prediction.grad_profile(float(output.iloc[0])), start=1):
            rows.append(
                {
                    "activation": run.activation,
                    "init": run.init,
                    "depth": run.depth,
                    "dataset": run.dataset,
                    "layer": layer,
                    "predicted": value,
                }
            )
    return pd.DataFrame(rows)


def _vanishing(f: Frames, o: Options) -> Built:
    if f.layers.empty:
        return [], "no per-layer stats in the finished runs"
    agg = analysis.vanishing_depth(analysis.vanishing_ratios(f.layers, f.usable))
    if agg.depth.nunique() < 2:
        return [], f"needs runs at 2 or more depths (has {sorted(agg.depth.unique().tolist())})"
    return [plots.vanishing_depth(agg, analysis.crossing_depths(agg, o.threshold), o.threshold)], ""


def _outcomes(f: Frames, o: Options) -> Built:
    scores = analysis.outcomes(f.usable)
    if scores.empty:
        return [], "no final validation scores"
    return [plots.outcome_heatmaps(scores)], ""


def _curves(f: Frames, o: Options) -> Built:
    if f.epochs.empty or not (f.epochs.metric == "val/loss").any():
        return [], "no per-epoch validation loss"
    return [plots.training_curves(analysis.curves(f.epochs, f.usable))], ""


def _health(f: Frames, o: Options) -> Built:
    agg = analysis.activation_health(f.layers, f.usable) if not f.layers.empty else pd.DataFrame()
    if agg.empty:
        return [], "no runs with a bounded (sigmoid, tanh) or ReLU-family activation and hidden layers"
    return [plots.activation_health(agg)], ""


def _symmetry(f: Frames, o: Options) -> Built:
    agg = analysis.symmetry(f.layers, f.usable) if not f.layers.empty else pd.DataFrame()
    if agg.empty:
        return [], "no hidden layers to measure"
    return [plots.symmetry(agg)], ""


# The report's figures in page order: key -> (title, builder).
FIGURES: dict[str, tuple[str, Callable[[Frames, Options], Built]]] = {
    "gradient_flow": ("Gradient flow per layer (step 0 and end)", _gradient_flow),
    "vanishing_depth": ("Vanishing depth", _vanishing),
    "outcomes": ("Outcome heatmaps", _outcomes),
    "training_curves": ("Training curves", _curves),
    "activation_health": ("Activation health", _health),
    "symmetry": ("Symmetry", _symmetry),
}


@dataclass
class ReportResult:
    path: Path
    pages: int
    drawn: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _grid_lines(runs: pd.DataFrame) -> list[str]:
    lines = []
    for col in ("activation", "init", "depth", "dataset", "seed"):
        values = sorted(runs[col].dropna().unique().tolist(), key=str)
        lines.append(f"{col}: {', '.join(map(str, values))}")
    return lines


def summary_page(experiment: str, f: Frames, result: ReportResult, o: Options) -> Figure:
    runs = f.runs
    counts = analysis.status_counts(runs)
    problems = runs[(runs.status != "FINISHED") | runs.diverged]
    problem_lines = [
        f"{r.run_name}: {'DIVERGED' if r.diverged else r.status}" + (f" ({r.reason})" if r.reason else "")
        for r in problems.itertuples()
    ][:25]
    if len(problems) > 25:
        problem_lines.append(f"... and {len(problems) - 25} more")
    findings: list[str] = []
    if not f.layers.empty:
        ratios = analysis.vanishing_ratios(f.layers, f.usable)
        crossings = analysis.crossing_depths(analysis.vanishing_depth(ratios), o.threshold) if len(ratios) else None
        sym = analysis.symmetry(f.layers, f.usable)
        findings = analysis.findings(
            crossings if crossings is not None else pd.DataFrame(columns=["crossing_depth"]),
            analysis.outcomes(f.usable),
            sym,
            o.threshold,
        )
    sections = [
        (
            "Runs",
            [
                f"experiment: {experiment}; {len(runs)} runs: " + ", ".join(f"{v} {k}" for k, v in counts.items()),
                f"dates: {runs.start_time.min():%Y-%m-%d %H:%M} to {runs.start_time.max():%Y-%m-%d %H:%M} (UTC)",
                f"code version: {', '.join(sorted(set(runs.code_version)))}",
                "only finished, non-diverged runs are drawn; seeds are aggregated as mean with a 95% t-interval",
            ],
        ),
        ("Grid", _grid_lines(runs)),
        ("Findings", findings or ["no per-layer data to draw findings from"]),
        ("Failed, diverged or unfinished runs (not drawn)", problem_lines or ["none"]),
        (
            "Pages",
            [f"drawn: {', '.join(result.drawn) or 'none'}"]
            + [f"skipped {k}: {why}" for k, why in result.skipped.items()],
        ),
    ]
    return plots.text_page(f"annlab report: {experiment}", sections)


def build_report(f: Frames, experiment: str, path: Path, figures: Sequence[str], o: Options) -> ReportResult:
    """Write the PDF for one experiment's frames: a summary page, then each figure that has data."""
    result = ReportResult(path, 0)
    drawn: list[Figure] = []
    for key in figures:
        pages, why = FIGURES[key][1](f, o)
        if pages:
            drawn += pages
            result.drawn.append(key)
        else:
            result.skipped[key] = why
    path.parent.mkdir(parents=True, exist_ok=True)
    with PdfPages(path, metadata={"Title": f"annlab report: {experiment}"}) as pdf:
        for fig in [summary_page(experiment, f, result, o), *drawn]:
            pdf.savefig(fig)
            plots.plt.close(fig)
            result.pages += 1
    return result


def _only(f: Frames, experiment: str) -> Frames:
    runs = f.runs[f.runs.experiment == experiment]
    ids = set(runs.run_id)
    return Frames(
        runs,
        f.layers[f.layers.run_id.isin(ids)] if not f.layers.empty else f.layers,
        f.epochs[f.epochs.run_id.isin(ids)] if not f.epochs.empty else f.epochs,
        f.uri,
    )


def main(argv: Sequence[str] | None = None, figures: Sequence[str] | None = None) -> int:
    """Build report PDFs; returns the exit status (1 when there is nothing to report on)."""
    chosen = list(figures or FIGURES)
    parser = argparse.ArgumentParser(
        description="Build annlab report PDFs from an MLflow tracking store"
        + ("" if figures is None else f" (figures: {', '.join(chosen)})"),
    )
    parser.add_argument("--uri", help="tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)")
    parser.add_argument(
        "-e", "--experiment", action="append", help="experiment to report on (repeatable; default: all)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--threshold", type=float, default=1e-2, help="vanishing ratio threshold (default: 1e-2)")
    args = parser.parse_args(argv)
    uri = resolve_uri(args.uri)
    tic = time.perf_counter()
    try:
        frames = load(uri, args.experiment)
    except StoreError as err:
        print(f"annlab report: {err}", file=sys.stderr)
        return 1
    experiments = args.experiment or sorted(frames.runs.experiment.unique())
    print(
        f"annlab report: read {len(frames.runs)} runs from {uri} in {time.perf_counter() - tic:.1f}s",
        flush=True,
    )
    suffix = "" if figures is None else "-" + "-".join(chosen)
    for experiment in experiments:
        result = build_report(
            _only(frames, experiment),
            experiment,
            args.out / f"{experiment}{suffix}.pdf",
            chosen,
            Options(args.threshold),
        )
        skipped = "; ".join(f"{k}: {v}" for k, v in result.skipped.items())
        print(
            f"annlab report: wrote {result.path} ({result.pages} pages)" + (f"; skipped {skipped}" if skipped else "")
        )
    return 0
