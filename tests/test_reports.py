"""Reports end to end: a small real sweep into a temp store, PDFs built, pages read back."""

from __future__ import annotations

import itertools
import runpy
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from conftest import fresh_store
from pypdf import PdfReader

from annlab.config import RunConfig
from annlab.read.report import main
from annlab.train.experiments import ensure_experiment
from annlab.train.job import run_job
from annlab.train.tracking import RunLogger

ROOT = Path(__file__).resolve().parent.parent
TINY = ["trainer.epochs=3", "dataset.n_samples=200", "model.width=12", "probe.batch_size=64", "probe.every=2"]
GLOROT_6 = "Activation values per hidden layer at initialisation and at the end (cf. Glorot & Bengio 2010, Fig. 6)"
GLOROT_7 = (
    "Back-propagated gradients |dL/dz| per hidden layer at initialisation and at the end "
    "(cf. Glorot & Bengio 2010, Fig. 7)"
)
TITLES = [
    "annlab report: demo",
    "Activations and their derivatives over [-6, 6]",
    "Gradient flow at step 0",
    "Gradient flow at the end of training",
    "Correlation map at step 0",
    "Vanishing depth",
    "Outcomes: final validation acc",
    "Training curves: val/loss over epochs",
    "Activation health",
    "Symmetry: mean pairwise cosine",
    *(f"{GLOROT_6} (page {i} of 2)" for i in (1, 2)),
    *(f"{GLOROT_7} (page {i} of 2)" for i in (1, 2)),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, composed: Callable[..., dict]) -> str:
    from annlab.config import parse_config

    uri = fresh_store(tmp_path_factory.mktemp("reports"))
    grid = itertools.product(("sigmoid", "relu"), ("xavier", "zeros"), (1, 3), (0, 1))
    for act, init, depth, seed in grid:
        cfg: RunConfig = parse_config(
            composed(
                [
                    *TINY,
                    f"activation={act}",
                    f"init={init}",
                    f"model.depth={depth}",
                    f"seed={seed}",
                    "tracking.experiment=demo",
                ]
            )
        )
        run_job(cfg, uri=uri)
    diverging = parse_config(
        composed(
            [
                *TINY,
                "optimizer.lr=1e6",
                "init=normal",
                "init.params.std=10",
                "model.depth=3",
                "tracking.experiment=demo",
            ]
        )
    )
    assert run_job(diverging, uri=uri).diverged
    # A job that raised: its run is FAILED with the reason, as run_job leaves it.
    logger = RunLogger(uri, ensure_experiment(uri, "demo"), "relu-xavier-d9-moons-s7", {})
    logger.end("FAILED", RuntimeError("out of memory"))
    return uri


@pytest.fixture(scope="module")
def drawn_report(store: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[list[str]]]:
    """The demo experiment's report, built once for the tests that read it, and each page's
    problems (figure_problems), looked for as the page is saved."""
    from matplotlib.backends.backend_pdf import PdfPages

    out, problems = tmp_path_factory.mktemp("report"), []
    save = PdfPages.savefig

    def checked(self: PdfPages, figure: object = None, **kwargs: object) -> None:
        problems.append(figure_problems(figure))
        save(self, figure, **kwargs)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(PdfPages, "savefig", checked)
        assert main(["--uri", store, "--out", str(out)]) == 0
    return out / "demo.pdf", problems


@pytest.fixture(scope="module")
def report(drawn_report: tuple[Path, list[list[str]]]) -> Path:
    return drawn_report[0]


def test_report_pages_titles_and_problem_runs(report: Path) -> None:
    pdf = PdfReader(report)
    assert len(pdf.pages) == len(TITLES)
    texts = [page.extract_text() for page in pdf.pages]
    for title, text in zip(TITLES, texts, strict=True):
        assert title in text.replace("\n", " ")
    summary = texts[0]
    assert "18 runs: 16 finished, 1 diverged, 1 failed" in summary
    assert "relu-normal-d3-moons-s0-std10-lr1e+06: DIVERGED" in summary
    assert "relu-xavier-d9-moons-s7: FAILED (RuntimeError: out of memory)" in summary
    assert "zeros init: hidden-layer unit_cosine stays between 1.0000 and 1.0000" in summary


def test_every_figure_page_has_drawn_data(report: Path) -> None:
    doc = pdfium.PdfDocument(str(report))
    for i in range(1, len(doc)):
        pixels = np.asarray(doc[i].render(scale=0.5).to_pil().convert("RGB"), dtype=np.int16)
        h, w, _ = pixels.shape
        plot_area = pixels[int(0.15 * h) : int(0.9 * h), int(0.05 * w) : int(0.85 * w)]
        coloured = np.abs(plot_area - plot_area.mean(axis=2, keepdims=True)).max(axis=2) > 40
        assert coloured.mean() > 0.001, f"page {i + 1} has no coloured data in its plot area"


def test_single_figure_script_runs_alone(store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """reports/symmetry.py as a script (its __main__), in this process."""
    monkeypatch.setattr(sys, "argv", ["symmetry.py", "--uri", store, "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(ROOT / "reports" / "symmetry.py"), run_name="__main__")
    assert done.value.code == 0
    pdf = PdfReader(tmp_path / "demo-symmetry.pdf")
    assert len(pdf.pages) == 2 and "Symmetry" in pdf.pages[1].extract_text()


def test_skipped_figures_are_said_on_the_summary(store: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from annlab.read.pages import Options
    from annlab.read.report import build_report
    from annlab.read.store import load

    frames = load(store, ["demo"])
    one_depth = frames.runs[frames.runs.depth == 1]
    frames.runs = one_depth
    frames.layers = frames.layers[frames.layers.run_id.isin(set(one_depth.run_id))]
    result = build_report(frames, "demo", tmp_path / "x.pdf", ["vanishing_depth", "symmetry"], Options())
    assert result.skipped == {"vanishing_depth": "needs runs at 2 or more depths (has [1])"}
    assert "skipped vanishing_depth: needs runs at 2 or more depths" in PdfReader(result.path).pages[0].extract_text()


def test_empty_or_missing_store_says_so_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--uri", f"sqlite:///{tmp_path / 'none.db'}", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no tracking store at" in err
    assert not (tmp_path / "none.db").exists()  # reading never creates a store
    uri = f"sqlite:///{tmp_path / 'empty.db'}"
    ensure_experiment(uri, "nothing")
    assert main(["--uri", uri, "-e", "nothing", "--out", str(tmp_path)]) == 1
    assert "no runs in experiment(s) nothing" in capsys.readouterr().err
    assert main(["--uri", uri, "-e", "typo", "--out", str(tmp_path)]) == 1
    assert "no experiment named typo" in capsys.readouterr().err


def figure_problems(fig: object) -> list[str]:
    """Empty facets and overlapping tick labels of a drawn page."""
    from matplotlib.figure import Figure

    assert isinstance(fig, Figure)
    fig.draw_without_rendering()  # lays every artist out, as drawing would, without the pixels
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    problems = []
    for ax in fig.axes:
        if not ax.get_visible() or ax.get_label() == "<colorbar>" or not ax.get_title():
            continue
        if not (ax.lines or ax.collections or ax.images):
            problems.append(f"empty facet {ax.get_title()!r}")
        boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text() and t.get_visible()]
        for a, b in itertools.pairwise(boxes):
            if a.overlaps(b):
                problems.append(f"overlapping x tick labels in {ax.get_title()!r}")
                break
    return problems


@pytest.fixture(scope="module")
def per_layer_store(tmp_path_factory: pytest.TempPathFactory, composed: Callable[..., dict]) -> str:
    """The tutorial's network (a sigmoid and a relu layer) at two seeds, beside a uniform model."""
    from annlab.config import parse_config

    uri = fresh_store(tmp_path_factory.mktemp("per_layer"))
    for overrides in (["model=tutorial_example", "seed=0"], ["model=tutorial_example", "seed=1"], ["activation=tanh"]):
        cfg = parse_config(composed([*overrides, "trainer.epochs=3", "probe.every=5", "tracking.experiment=mixed"]))
        run_job(cfg, uri=uri)
    return uri


def test_a_per_layer_model_is_grouped_and_labelled_by_what_it_contains(per_layer_store: str, tmp_path: Path) -> None:
    from annlab.read.pages import FIGURES, Options
    from annlab.read.store import load

    frames = load(per_layer_store, ["mixed"])
    health, why = FIGURES["activation_health"][1](frames, Options())
    assert health, why
    titles = {ax.get_title() for ax in health[0].axes}
    assert {"tutorial_example: saturated (sigmoid layers)", "tutorial_example: dead (relu layers)"} <= titles
    for key, (_, build) in FIGURES.items():
        pages, why = build(frames, Options())
        for page in pages:
            assert figure_problems(page) == [], key
    # the summary page (every page was drawn above: the report is built with one of them only)
    assert main(["--uri", per_layer_store, "--out", str(tmp_path)], only=["activation_health"]) == 0
    summary = PdfReader(tmp_path / "mixed-activation_health.pdf").pages[0].extract_text().replace("\n", " ")
    assert "model: mlp, tutorial_example" in summary
    assert "activation: sigmoid,relu, tanh" in summary and "init: kaiming, xavier_normal,kaiming_normal" in summary


def test_every_page_of_the_demo_report_has_no_empty_facet_or_overlapping_ticks(
    drawn_report: tuple[Path, list[list[str]]],
) -> None:
    _, problems = drawn_report
    assert len(problems) == len(TITLES)
    assert {title: p for title, p in zip(TITLES, problems, strict=True) if p} == {}


def test_the_gain_map_page_overlays_measured_runs_on_the_prediction(
    tmp_path: Path, composed: Callable[..., dict]
) -> None:
    from annlab.config import parse_config
    from annlab.read import analysis
    from annlab.read.pages import FIGURES, Options
    from annlab.read.store import load, load_networks

    uri = fresh_store(tmp_path)
    for act, init in itertools.product(("sigmoid", "tanh"), ("xavier", "critical")):
        overrides = [
            f"activation={act}",
            f"init={init}",
            "model.depth=12",
            "model.width=128",
            "trainer.epochs=1",
            "dataset.n_samples=300",
            "tracking.experiment=gains",
        ]
        run_job(parse_config(composed(overrides)), uri=uri)
    frames = load(uri, ["gains"])
    chi = analysis.measured_chi(frames.layers, frames.usable, load_networks(frames.usable, uri))
    chi = chi.set_index(["activation", "init"]).chi
    assert chi["sigmoid", "xavier"] < 0.15 and 0.7 < chi["sigmoid", "critical"] < 1.3  # sigmoid needs gain ~10
    assert 0.7 < chi["tanh", "critical"] < 1.3
    pages, why = FIGURES["gain_map"][1](frames, Options())
    assert pages, why
    axes = {ax.get_title(): ax for ax in pages[0].axes if ax.get_title()}
    assert set(axes) == {"sigmoid", "tanh"}
    labels = {label for ax in axes.values() for label in ax.get_legend_handles_labels()[1]}
    assert {"xavier", "kaiming", "critical", "run: xavier", "run: critical"} <= labels
    assert figure_problems(pages[0]) == []
