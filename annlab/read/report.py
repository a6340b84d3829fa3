"""Report PDFs: tracked runs -> one multi-page PDF per experiment (`python reports/build.py`)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from annlab.parts import PartImportError
from annlab.read import figures
from annlab.read.pages import FIGURES, Options
from annlab.read.store import Frames, StoreError, load
from annlab.read.summary import summary_pages
from annlab.record import resolve_uri

DEFAULT_OUT = Path("reports") / "out"


@dataclass
class ReportResult:
    path: Path
    pages: int
    drawn: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def build_report(f: Frames, experiment: str, path: Path, keys: Sequence[str], o: Options) -> ReportResult:
    """Write the PDF for one experiment's frames: the summary, then each figure that has data."""
    result = ReportResult(path, 0)
    drawn: list[Figure] = []
    for key in keys:
        try:
            pages, why = FIGURES[key][1](f, o)
        except PartImportError as err:  # a user's activation that does not import where the report is built
            pages, why = [], f"needs a user's part that does not import here: {err}"
        if pages:
            drawn += pages
            result.drawn.append(key)
        else:
            result.skipped[key] = why
    path.parent.mkdir(parents=True, exist_ok=True)
    with PdfPages(path, metadata={"Title": f"annlab report: {experiment}"}) as pdf:
        for fig in [*summary_pages(experiment, f, result.drawn, result.skipped, o.threshold), *drawn]:
            pdf.savefig(fig)
            figures.plt.close(fig)
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


def main(argv: Sequence[str] | None = None, only: Sequence[str] | None = None) -> int:
    """Build report PDFs (all pages, or `only` those); returns the exit status (1 when there is
    nothing to report on)."""
    chosen = list(only or FIGURES)
    parser = argparse.ArgumentParser(
        description="Build annlab report PDFs from an MLflow tracking store"
        + ("" if only is None else f" (figures: {', '.join(chosen)})"),
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
    suffix = "" if only is None else "-" + "-".join(chosen)
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
