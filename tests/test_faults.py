"""Faults: failing, killed and resumed jobs leave the right runs behind, and the sweep says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import FAST, run_cli
from mlflow.tracking import MlflowClient

import annlab.job
from annlab.config import RunConfig
from annlab.job import config_hash, finished_run, run_job
from annlab.run import sweep_summary


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

    monkeypatch.setattr(annlab.job, "train", broken)
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
    assert "4 jobs: 1 finished, 1 diverged, 1 failed, 1 skipped" in text
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


def test_sigterm_ends_the_run_killed_and_resume_reruns_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    args = [sys.executable, "-m", "annlab.run", "-m", "trainer.epochs=100000", "dataset.n_samples=200"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    for line in proc.stdout:  # wait until training has started
        if "running relu-kaiming-d3-moons-s0" in line or time.monotonic() > deadline:
            break
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert statuses(uri) == [("relu-kaiming-d3-moons-s0", "KILLED")]
    # A killed run is not a result: resume finds nothing to skip for its config.
    client = MlflowClient(uri)
    (killed,) = client.search_runs([client.get_experiment_by_name("annlab").experiment_id])
    assert finished_run(uri, killed.info.experiment_id, killed.data.tags["annlab.config_hash"]) is None
    # A finished one is: the same sweep twice runs it once.
    first = run_cli(["-m", "trainer.epochs=1", "dataset.n_samples=200"], tmp_path)
    assert first.returncode == 0 and "1 finished, 0 diverged, 0 failed, 0 skipped" in first.stdout
    again = run_cli(["-m", "trainer.epochs=1", "dataset.n_samples=200"], tmp_path)
    assert "skipped, already FINISHED" in again.stdout and "0 finished, 0 diverged, 0 failed, 1 skipped" in again.stdout


def test_a_failing_job_does_not_stop_the_sweep(tmp_path: Path) -> None:
    """A real fault: one experiment's artifact store cannot be written, so its job fails after
    training; the other job finishes, and the sweep reports both and exits 1."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(uri).create_experiment("broken", artifact_location="/proc/annlab-artifacts")
    proc = run_cli(["-m", "tracking.experiment=fine,broken", "trainer.epochs=1", "dataset.n_samples=200"], tmp_path)
    assert proc.returncode == 1
    assert "2 jobs: 1 finished, 0 diverged, 1 failed, 0 skipped" in proc.stdout
    assert "FAILED: relu-kaiming-d3-moons-s0" in proc.stdout
    assert statuses(uri, "fine") == [("relu-kaiming-d3-moons-s0", "FINISHED")]
    client = MlflowClient(uri)
    (failed,) = client.search_runs([client.get_experiment_by_name("broken").experiment_id])
    assert failed.info.status == "FAILED" and failed.data.tags["annlab.error"]
