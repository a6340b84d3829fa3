"""A real tracking server: mlflow server on PostgreSQL, a sweep against it, and fast failure without it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest
from conftest import Result, run_cli
from mlflow.tracking import MlflowClient
from servers import free_port, mlflow_server, postgres

from annlab.read.store import load
from annlab.record import STATS

SWEEP = ["-m", "activation=relu,tanh", "trainer.epochs=2", "dataset.n_samples=200", "tracking=server"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("server")
    with postgres() as db, mlflow_server(db, folder) as uri:
        yield uri, db


@pytest.fixture(scope="module")
def swept(server: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """The server after a small sweep against it."""
    uri, db = server
    cwd = tmp_path_factory.mktemp("sweep")
    proc = run_cli(SWEEP, cwd, env={"ANNLAB_TRACKING_SERVER": uri})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"sweep of 2 jobs into {uri}" in proc.stdout
    assert not (cwd / "mlflow.db").exists()  # nothing went to the embedded default
    return uri, db


@pytest.mark.slow  # PostgreSQL and mlflow server started: ~1 min
def test_sweep_against_a_server_on_postgresql(swept: tuple[str, str]) -> None:
    uri, db = swept
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("annlab")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == {"relu-kaiming-d3-moons-s0", "tanh-kaiming-d3-moons-s0"}
    run = runs["tanh-kaiming-d3-moons-s0"]
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "grad_z_norm/layer_01")
    assert history[0].step == 0 and len(history) >= 2
    assert "layer_stats.parquet" in {a.path for a in client.list_artifacts(run.info.run_id)}
    # Reports read the per-run tables through the server's artifact proxy.
    frames = load(uri, ["annlab"])
    assert len(frames.runs) == 2 and set(frames.layers.layer) == {1, 2, 3, 4} and not frames.epochs.empty
    with psycopg2.connect(db) as con, con.cursor() as cur:  # the rows are in PostgreSQL itself
        cur.execute("SELECT COUNT(*) FROM metrics WHERE run_uuid = %s AND key LIKE %s", (run.info.run_id, "%/layer_%"))
        # every stat of every hidden and output layer, at each logged step
        assert cur.fetchone()[0] == len(history) * 4 * len(STATS)


def test_unreachable_server_fails_fast_naming_the_uri(tmp_path: Path, cli: Callable[..., Result]) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    tic = time.monotonic()
    proc = cli(["-m", "trainer.epochs=1", "tracking=server"], tmp_path, env={"ANNLAB_TRACKING_SERVER": uri})
    assert time.monotonic() - tic < 15
    assert proc.returncode == 2
    assert f"tracking.uri={uri}: cannot reach the tracking server" in proc.stderr
    assert "Traceback" not in proc.stderr


CHROMIUM = Path("/usr/bin/chromium")
# Chromium's own background traffic has nowhere to go on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.slow  # the same server, and Chromium
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed (apt-get install chromium; .ci/run does)")
def test_mlflow_ui_shows_the_runs_and_a_per_layer_metric(swept: tuple[str, str], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    uri, _ = swept
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("annlab")
    run = next(r for r in client.search_runs([exp.experiment_id]) if r.info.run_name == "tanh-kaiming-d3-moons-s0")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{uri}/#/experiments/{exp.experiment_id}/runs")
            for name in ("relu-kaiming-d3-moons-s0", "tanh-kaiming-d3-moons-s0"):
                page.get_by_text(name).first.wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "experiment.png"))
            page.goto(f"{uri}/#/experiments/{exp.experiment_id}/runs/{run.info.run_id}")
            search = page.get_by_placeholder("Search metrics")
            search.wait_for(timeout=60_000)
            search.fill("grad_z_norm/layer_01")
            page.get_by_text("grad_z_norm/layer_01", exact=True).first.wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "run.png"))
        finally:
            browser.close()
