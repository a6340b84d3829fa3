"""Faults: failing, killed and resumed jobs leave the right runs behind, and the sweep says so."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conftest import FAST, Result
from mlflow.tracking import MlflowClient

import annlab.train.job
from annlab.config import RunConfig
from annlab.record import STATS, layer_key
from annlab.run import sweep_summary
from annlab.train.identity import config_hash
from annlab.train.job import run_job
from annlab.train.resume import finished_run


def statuses(uri: str, experiment: str = "annlab") -> list[tuple[str, str]]:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id]) if exp else []
    return sorted((r.info.run_name, r.info.status) for r in runs)


def test_a_job_that_raises_ends_failed_with_its_traceback(
    config: Callable[..., RunConfig], store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("CUDA error: device-side assert")  # injected fault, mid-job

    monkeypatch.setattr(annlab.train.job, "train_group", broken)
    with pytest.raises(RuntimeError):
        run_job(config(*FAST), uri=store)
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("annlab").experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.tags["annlab.error"] == "RuntimeError: CUDA error: device-side assert"
    trace = Path(client.download_artifacts(run.info.run_id, "traceback.txt")).read_text()
    assert "Traceback" in trace and "device-side assert" in trace


def test_sweep_summary_counts_and_names() -> None:
    outcomes = [
        {"name": "a", "status": "FINISHED", "error": ""},
        {"name": "b", "status": "DIVERGED", "error": "training loss turned non-finite at step 3"},
        {"name": "c", "status": "FAILED", "error": "RuntimeError: boom"},
        {"name": "d", "status": "SKIPPED", "error": "already FINISHED"},
    ]
    text, failed = sweep_summary(outcomes, 4)
    assert "4 jobs: 1 finished, 1 diverged, 1 failed, 0 killed, 1 skipped" in text
    assert "FAILED: c (RuntimeError: boom)" in text and "DIVERGED: b" in text and failed
    assert sweep_summary(outcomes[:2], 2)[1] is False
    assert "1 not run" in sweep_summary(outcomes[:1], 2)[0]


def test_resume_skips_finished_configs_and_reruns_on_request(config: Callable[..., RunConfig], store: str) -> None:
    first = run_job(config(*FAST), uri=store)
    again = run_job(config(*FAST), uri=store)
    assert again.status == "SKIPPED" and again.run_id == first.run_id
    assert run_job(config(*FAST, "resume=false"), uri=store).status == "FINISHED"
    assert run_job(config(*FAST, "seed=1"), uri=store).status == "FINISHED"  # another config
    assert len(statuses(store)) == 3
    assert config_hash(config(*FAST)) == config_hash(config(*FAST, "resume=false", "threads=2"))
    assert config_hash(config(*FAST)) != config_hash(config(*FAST, "optimizer.lr=0.1"))


def test_a_sweep_skips_what_it_or_an_earlier_sweep_finished(tmp_path: Path, cli: Callable[..., Result]) -> None:
    """Into a new experiment a sweep looks its jobs up in what it has finished itself (a job
    listed twice runs once); a sweep into an experiment with FINISHED runs asks the store."""
    sweep = ["-m", "seed=0,1,0", "trainer.epochs=1", "dataset.n_samples=100"]
    first = cli(sweep, tmp_path)
    assert "3 jobs: 2 finished, 0 diverged, 0 failed, 0 killed, 1 skipped" in first.stdout, first.stderr[-2000:]
    again = cli([*sweep[:1], "seed=1,2", *sweep[2:]], tmp_path)
    assert "2 jobs: 1 finished, 0 diverged, 0 failed, 0 killed, 1 skipped" in again.stdout, again.stderr[-2000:]
    assert [status for _, status in statuses(f"sqlite:///{tmp_path / 'mlflow.db'}")] == ["FINISHED"] * 3


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    """Poll `condition` until it holds (no fixed sleeps: a slow machine only waits longer)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def runs_training(db: Path) -> int:
    """How many runs have logged their params: their `train()` is running (or has run)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("SELECT COUNT(DISTINCT run_uuid) FROM params").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is still being created
        return 0


def training_started(db: Path) -> bool:
    return runs_training(db) > 0


@pytest.mark.slow  # a sweep in a fresh process, signalled while it trains: ~20 s
def test_sigterm_ends_the_run_killed_and_stops_the_sweep(tmp_path: Path, cli: Callable[..., Result]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    args = [sys.executable, "-m", "annlab.run", "-m", "seed=0,1", "trainer.epochs=100000", "dataset.n_samples=200"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: training_started(tmp_path / "mlflow.db"), "training to start")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, out[-2000:]
    assert "relu-kaiming-d3-moons-s0: KILLED by SIGTERM" in out and "the run is recorded KILLED" in out
    assert "FAILED" not in out and "Traceback" not in out
    assert "job 2/2 running" not in out  # the sweep stopped, as with Ctrl-C
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert statuses(uri) == [("relu-kaiming-d3-moons-s0", "KILLED")]
    # A killed run is not a result: resume finds nothing to skip for its config.
    client = MlflowClient(uri)
    (killed,) = client.search_runs([client.get_experiment_by_name("annlab").experiment_id])
    assert finished_run(uri, killed.info.experiment_id, killed.data.tags["annlab.config_hash"]) is None
    # A finished one is: the same sweep twice runs it once.
    first = cli(["-m", "trainer.epochs=1", "dataset.n_samples=200"], tmp_path)
    assert first.returncode == 0 and "1 finished, 0 diverged, 0 failed, 0 killed, 0 skipped" in first.stdout
    again = cli(["-m", "trainer.epochs=1", "dataset.n_samples=200"], tmp_path)
    assert "skipped, already FINISHED" in again.stdout
    assert "0 finished, 0 diverged, 0 failed, 0 killed, 1 skipped" in again.stdout


def test_a_failing_job_does_not_stop_the_sweep(tmp_path: Path, cli: Callable[..., Result]) -> None:
    """A real fault: one experiment's artifact store cannot be written, so its job fails after
    training; the other job finishes, and the sweep reports both and exits 1."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(uri).create_experiment("broken", artifact_location="/proc/annlab-artifacts")
    proc = cli(["-m", "tracking.experiment=fine,broken", "trainer.epochs=1", "dataset.n_samples=200"], tmp_path)
    assert proc.returncode == 1
    assert "2 jobs: 1 finished, 0 diverged, 1 failed, 0 killed, 0 skipped" in proc.stdout
    assert "FAILED: relu-kaiming-d3-moons-s0" in proc.stdout
    assert statuses(uri, "fine") == [("relu-kaiming-d3-moons-s0", "FINISHED")]
    client = MlflowClient(uri)
    (failed,) = client.search_runs([client.get_experiment_by_name("broken").experiment_id])
    assert failed.info.status == "FAILED" and failed.data.tags["annlab.error"]


def long_sweep(cwd: Path, *extra: str) -> subprocess.Popen:
    """A real sweep process that trains for a long time, its output discarded."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    args = [sys.executable, "-m", "annlab.run", "-m", "trainer.epochs=100000", "dataset.n_samples=200", *extra]
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.slow  # two sweeps in fresh processes and a kill -9: ~25 s
def test_a_run_left_running_by_kill_9_is_ended_by_the_next_sweep_and_a_live_one_is_not(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    uri, db = f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "mlflow.db"
    live = long_sweep(tmp_path, "seed=6")
    try:
        wait_for(lambda: runs_training(db) == 1, "the live sweep to train")
        crashed = long_sweep(tmp_path, "seed=5")
        wait_for(lambda: runs_training(db) == 2, "the second sweep to train")
        crashed.send_signal(signal.SIGKILL)  # no handler runs: its run stays RUNNING
        crashed.wait(timeout=30)
        assert [s for _, s in statuses(uri)] == ["RUNNING", "RUNNING"]
        proc = cli(["-m", "seed=0", "trainer.epochs=1", "dataset.n_samples=200"], tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "ended run relu-kaiming-d3-moons-s5, left RUNNING by a process that is gone" in proc.stdout
        assert statuses(uri) == [
            ("relu-kaiming-d3-moons-s0", "FINISHED"),
            ("relu-kaiming-d3-moons-s5", "KILLED"),
            ("relu-kaiming-d3-moons-s6", "RUNNING"),  # a sweep alive at the same time is left alone
        ]
    finally:
        live.kill()
        live.wait(timeout=30)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("annlab").experiment_id
    (zombie,) = client.search_runs([exp], "attributes.run_name = 'relu-kaiming-d3-moons-s5'")
    assert zombie.data.tags["annlab.error"].startswith(f"ended by a later sweep: its process {crashed.pid} on ")


def test_a_run_on_another_host_is_ended_only_after_its_heartbeat_goes_stale(store: str) -> None:
    from annlab.train.reaper import reap

    client = MlflowClient(store)
    exp = client.create_experiment("remote")
    now = time.time()
    old = client.create_run(
        exp,
        run_name="lost",
        tags={"annlab.host": "node-17", "annlab.pid": "1", "annlab.heartbeat": str(int(now - 1000))},
    )
    fresh = client.create_run(
        exp, run_name="busy", tags={"annlab.host": "node-18", "annlab.pid": "1", "annlab.heartbeat": str(int(now - 10))}
    )
    done = client.create_run(
        exp, run_name="done", tags={"annlab.host": "node-17", "annlab.heartbeat": str(int(now - 1000))}
    )
    client.set_terminated(done.info.run_id, "FINISHED")
    assert reap(store, exp, stale_after=900) == ["lost"]
    assert client.get_run(old.info.run_id).info.status == "FAILED"
    assert "no heartbeat from node-17 for" in client.get_run(old.info.run_id).data.tags["annlab.error"]
    assert client.get_run(fresh.info.run_id).info.status == "RUNNING"
    assert client.get_run(done.info.run_id).info.status == "FINISHED"


def test_a_groups_runs_writing_at_once_do_not_exhaust_the_stores_connections(store: str) -> None:
    """40 runs of one process (a large group) flushing in the background at once, as a traced
    group's members do every few steps: every value lands, none fails. With a writer thread a
    run they outnumbered MLflow's SQLAlchemy pool (5 connections and 10 more), whose waits
    timed out after 30 s, failing the runs or hanging the sweep."""
    from annlab.train.tracking import RunLogger

    client = MlflowClient(store)
    experiment = client.create_experiment("many")
    loggers = [RunLogger(store, experiment, f"member-{i}", {}) for i in range(40)]
    for step in range(3):
        for logger in loggers:
            logger.log_metrics({f"m{k}": float(k + step) for k in range(50)}, step=step)
            logger.flush(wait=False)
    for logger in loggers:
        logger.end("FINISHED")
    runs = client.search_runs([experiment], max_results=100)
    assert len(runs) == 40 and {r.info.status for r in runs} == {"FINISHED"}
    assert {len(client.get_metric_history(r.info.run_id, "m7")) for r in runs} == {3}


def test_a_run_flushes_on_what_goes_to_mlflow_not_on_every_traced_step(store: str) -> None:
    """A traced run's probe steps outside tracking.metric_points go to the parquet table alone:
    they send nothing, so the writer thread does not contend with the loop for each epoch's few
    metrics (it did, flushing every ~30 steps); values bound for MLflow still flush at
    FLUSH_EVERY, and end() writes the rest."""
    from annlab.train.tracking import FLUSH_EVERY, RunLogger

    client = MlflowClient(store)
    logger = RunLogger(store, client.create_experiment("flushes"), "traced", {}, metric_steps={0})
    values = torch.ones(len(STATS), 6)
    for step in range(1, 500):  # 32,000 values, none of a metric step
        logger.layer_stats(step, values)
        if step % 25 == 0:
            logger.epoch_metrics(step // 25, step, {"train/loss": 0.5})
    assert logger._writes == [] and len(logger._layer_rows) == 499
    for _ in range(FLUSH_EVERY):
        logger.epoch_metrics(99, 500, {"val/loss": 0.5})
    assert logger._writes and len(logger._pending) < 100  # sent at FLUSH_EVERY, in the background
    logger.layer_stats(0, values)
    logger.end("FINISHED")
    run = client.get_run(logger.run_id)
    assert run.data.metrics["val/loss"] == 0.5 and layer_key(1, "z_mean") in run.data.metrics
