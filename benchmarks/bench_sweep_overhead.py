"""Benchmark: what a sweep costs per job outside training, against the floor MLflow itself sets.

    python benchmarks/bench_sweep_overhead.py

Runs a 48-job sweep of one-epoch jobs (`python -m annlab.run -m ...` in a fresh folder, a fresh
SQLite store) and takes its wall time minus the time its jobs spent in their training loops (the
`train_s` of each job in the sweep's results file), per job. Then replays what one of its runs
logged (its tags, params, every metric value in batches, its artifacts) 48 times into a fresh
SQLite store with MlflowClient alone: the floor. Prints the ratio (issue 12's target: at most 2x),
and the same for the sweep run with Hydra's basic sweeper (each job composed three times).

A 1-job sweep splits the cost in two: what a sweep pays once (Python, importing torch, MLflow,
scikit-learn, torch._dynamo with the first optimiser, composing the config) and what each further
job adds. The first cannot shrink below the imports, so the ratio falls with the number of jobs;
the benchmark prints the sweep size from which it is within 2x.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

SWEEP = ["activation=relu,tanh", "init=kaiming,xavier", "model.depth=1,2,3", "seed=0,1,2,3", "trainer.epochs=1"]
SWEEP_JOBS = 48
ONE_JOB = ["activation=relu", "init=kaiming", "model.depth=1", "seed=0", "trainer.epochs=1"]


def sweep(folder: Path, extra: list[str], axes: list[str] = SWEEP, jobs: int = SWEEP_JOBS) -> tuple[float, float]:
    """Wall time of the sweep, and the time its jobs spent in their training loops."""
    tic = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "annlab.run", "-m", *axes, "dataset.n_samples=200", *extra],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - tic
    if proc.returncode != 0 or f"{jobs} jobs: {jobs} finished" not in proc.stdout:
        sys.exit(f"sweep failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    lines = [json.loads(x) for f in folder.rglob("annlab_jobs-*.jsonl") for x in f.read_text().splitlines()]
    return wall, sum(float(o["train_s"]) for o in lines)


def floor(store: Path, n: int) -> float:
    """Seconds per run to log, with MlflowClient alone, what one run of the sweep logged."""
    source = MlflowClient(f"sqlite:///{store}")
    run = source.search_runs([source.get_experiment_by_name("annlab").experiment_id], max_results=1)[0]
    run_id = run.info.run_id
    metrics = [m for key in run.data.metrics for m in source.get_metric_history(run_id, key)]
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = Path(source.download_artifacts(run_id, "", tmp))
        client = MlflowClient(f"sqlite:///{tmp}/floor.db")
        experiment = client.create_experiment("floor")
        tic = time.perf_counter()
        for _ in range(n):
            new = client.create_run(experiment, tags=run.data.tags).info.run_id
            client.log_batch(new, params=[Param(k, v) for k, v in run.data.params.items()])
            for i in range(0, len(metrics), 1000):
                chunk = metrics[i : i + 1000]
                client.log_batch(new, metrics=[Metric(m.key, m.value, m.timestamp, m.step) for m in chunk])
            client.log_batch(new, tags=[RunTag("annlab.heartbeat", "0")])
            client.log_artifacts(new, str(artifacts))
            client.set_terminated(new)
        return (time.perf_counter() - tic) / n


def main() -> None:
    print(f"{SWEEP_JOBS}-job sweep: {' '.join(SWEEP)}, dataset.n_samples=200")
    with tempfile.TemporaryDirectory() as tmp:
        wall, training = sweep(Path(tmp), [], ONE_JOB, 1)
        single = wall - training
    for label, extra in (("annlab's sweeper", []), ("Hydra's basic sweeper", ["hydra/sweeper=basic"])):
        with tempfile.TemporaryDirectory() as tmp:
            wall, training = sweep(Path(tmp), extra)
            per_job = (wall - training) / SWEEP_JOBS
            mlflow_floor = floor(Path(tmp) / "mlflow.db", SWEEP_JOBS)
        print(
            f"  {label:<22} wall {wall:5.1f} s, in training loops {training:4.1f} s -> {per_job * 1000:4.0f} ms a job"
            f" outside training; MLflow's floor {mlflow_floor * 1000:3.0f} ms a run -> {per_job / mlflow_floor:.1f}x"
        )
        if not extra:
            each = (wall - training - single) / (SWEEP_JOBS - 1)
            once = single - each
            within = f"{math.ceil(once / (2 * mlflow_floor - each))} jobs" if each < 2 * mlflow_floor else "never"
            print(
                f"    a 1-job sweep spends {single:4.1f} s outside training: {once:4.1f} s once a sweep, then"
                f" {each * 1000:3.0f} ms a further job ({each / mlflow_floor:.1f}x the floor); within 2x from {within}"
            )


if __name__ == "__main__":
    main()
