"""A sweep's ways of running its jobs (annlab's in-process loop, Hydra's launcher, joblib) record the same runs."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result, run_cli

from annlab import record

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


def params_and_tags(db: Path) -> dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]]:
    """Every param and tag of every run, by run name, less what differs between two launches."""
    differ = (record.SWEEP, record.HOST, record.PID, record.HEARTBEAT, "mlflow.source", "mlflow.user")
    with sqlite3.connect(db) as con:
        params = con.execute("SELECT r.name, p.key, p.value FROM params p JOIN runs r ON r.run_uuid = p.run_uuid")
        tags = con.execute("SELECT r.name, t.key, t.value FROM tags t JOIN runs r ON r.run_uuid = t.run_uuid")
        out: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {}
        for i, rows in enumerate((params.fetchall(), tags.fetchall())):
            for name, key, value in rows:
                if not key.startswith(differ):
                    out.setdefault(name, ([], []))[i].append((key, value))
    return {name: (sorted(p), sorted(t)) for name, (p, t) in out.items()}


def test_annlabs_in_process_sweep_records_what_hydras_own_launch_records(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """annlab's sweeper runs its jobs itself, without Hydra's per-job run_job; the runs are those
    Hydra's basic sweeper and launcher make: the same numbers bit for bit, params and tags."""
    ours, hydras = tmp_path / "ours", tmp_path / "hydra"
    ours.mkdir()
    hydras.mkdir()
    a = cli(SWEEP, ours)
    b = cli([*SWEEP, "hydra/sweeper=basic"], hydras)
    for proc in (a, b):
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "4 jobs: 4 finished, 0 diverged, 0 failed, 0 killed, 0 skipped" in proc.stdout
    assert metrics_by_run(ours / "mlflow.db") == metrics_by_run(hydras / "mlflow.db")
    tagged = params_and_tags(ours / "mlflow.db")
    assert len(tagged) == 4 and tagged == params_and_tags(hydras / "mlflow.db")
    assert ("annlab.choice.activation", "tanh") in tagged["tanh-kaiming-d2-moons-s1"][1]
    # Hydra's run_job makes a folder per job (holding an empty log file); annlab's loop does not
    assert sweep_folder(hydras) >= {"0", "1", "2", "3"}
    assert {p.split("-")[0] for p in sweep_folder(ours)} == {"annlab_jobs", "multirun.yaml"}


def sweep_folder(cwd: Path) -> set[str]:
    (folder,) = (cwd / "multirun").glob("*/*")
    return {p.name for p in folder.iterdir()}


def test_a_sweep_that_sets_environment_variables_runs_through_hydras_launcher(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """hydra.job.env_set applies around each job, as Hydra applies it: Hydra's launcher runs those."""
    proc = cli(
        ["-m", "seed=0,1", "trainer.epochs=1", "dataset.n_samples=100", "+hydra.job.env_set.ANNLAB_X=1"], tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 jobs: 2 finished" in proc.stdout
    assert sweep_folder(tmp_path) >= {"0", "1"}
