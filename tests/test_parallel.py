"""Parallel sweeps: the joblib launcher loses no run and no metric against a sequential sweep."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result, run_cli

SWEEP = [
    "-m",
    "activation=relu,tanh",
    "init=kaiming",
    "model.depth=2",
    "seed=0,1",
    "trainer.epochs=2",
    "dataset.n_samples=200",
    "probe.every=2",
]


def metrics_by_run(db: Path) -> dict[str, list[tuple[str, int, float]]]:
    """Every metric value of every run, by run name: one SQL query over the store. The wall time
    a run spent training (train_seconds) is the one value two launches never share."""
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT r.name, m.key, m.step, m.value FROM metrics m JOIN runs r ON r.run_uuid = m.run_uuid"
            " WHERE r.status = 'FINISHED' AND m.key != 'train_seconds'"
        ).fetchall()
    out: dict[str, list[tuple[str, int, float]]] = {}
    for name, key, step, value in rows:
        out.setdefault(name, []).append((key, step, value))
    return {name: sorted(values) for name, values in out.items()}


@pytest.mark.slow  # two sweeps, one in joblib worker processes that import everything: ~1 min
def test_joblib_sweep_equals_the_sequential_one(tmp_path: Path, cli: Callable[..., Result]) -> None:
    sequential, parallel = tmp_path / "seq", tmp_path / "par"
    sequential.mkdir()
    parallel.mkdir()  # no store yet: the sweep creates it once, before the workers start
    seq = cli(SWEEP, sequential)
    par = run_cli([*SWEEP, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], parallel)
    assert seq.returncode == 0, seq.stderr[-2000:]
    assert par.returncode == 0, par.stderr[-2000:]
    assert "4 jobs: 4 finished, 0 diverged, 0 failed, 0 killed, 0 skipped" in par.stdout
    a, b = metrics_by_run(sequential / "mlflow.db"), metrics_by_run(parallel / "mlflow.db")
    assert len(a) == 4 and a.keys() == b.keys()
    for name in a:
        assert len(a[name]) == len(b[name]), name
        assert [(k, s) for k, s, _ in a[name]] == [(k, s) for k, s, _ in b[name]], name
        assert [v for *_, v in a[name]] == [v for *_, v in b[name]], name  # same numbers, bit for bit


def test_slurm_launcher_config_composes(composed: Callable[..., dict]) -> None:
    from hydra import compose

    # `composed` holds Hydra initialised on conf/ for the session; compose the hydra node too.
    cfg = compose("config", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.annlab_launchers.slurm_launcher.SlurmLauncher"
    assert (launcher.cpus_per_task, launcher.tasks_per_node, launcher.array_parallelism) == (1, 1, 64)
    assert launcher.mem_gb == 2 and launcher.timeout_min == 60


@pytest.mark.slow  # each job a fresh process that imports everything: ~35 s
def test_submitit_local_executor_runs_the_jobs(tmp_path: Path) -> None:
    proc = run_cli(
        ["-m", "activation=relu,tanh", "trainer.epochs=1", "dataset.n_samples=200", "hydra/launcher=submitit_local"],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 jobs: 2 finished, 0 diverged, 0 failed, 0 killed, 0 skipped" in proc.stdout
    assert set(metrics_by_run(tmp_path / "mlflow.db")) == {"relu-kaiming-d3-moons-s0", "tanh-kaiming-d3-moons-s0"}
