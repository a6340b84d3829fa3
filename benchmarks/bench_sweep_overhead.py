"""Benchmark: what a sweep costs per job outside training, against the floor MLflow itself sets.

    python benchmarks/bench_sweep_overhead.py

    python benchmarks/bench_sweep_overhead.py --study vanishing_gradients

Runs a 48-job sweep of one-epoch jobs (`python -m annlab.run -m ...` in a fresh folder, a fresh
SQLite store) and takes its wall time minus the time its jobs spent in their training loops (the
`train_s` of each job in the sweep's results file), per job. Then replays what each of its runs
logged (its tags, params, every metric value in batches, its artifacts) into a fresh SQLite store
with MlflowClient alone: the floor, per run. Prints the ratio (issue 12's target: at most 2x), and
the same for the sweep run with Hydra's basic sweeper (each job composed three times).

A 1-job sweep splits the cost in two: what a sweep pays once (Python, importing torch, MLflow,
scikit-learn, torch._dynamo with the first optimiser, composing the config) and what each further
job adds. The first cannot shrink below the imports, so the ratio falls with the number of jobs;
the benchmark prints the sweep size from which it is within 2x.

With --study, the same for a whole study's sweep (`+experiments=STUDY`, e.g. the 405 jobs of
vanishing_gradients), measured directly instead of the 48-job sweep.
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow.entities import Metric, Param, Run, RunTag
from mlflow.tracking import MlflowClient

SWEEP = [
    "activation=relu,tanh",
    "init=kaiming,xavier",
    "model.depth=1,2,3",
    "seed=0,1,2,3",
    "trainer.epochs=1",
    "dataset.n_samples=200",
]
SWEEP_JOBS = 48
ONE_JOB = ["activation=relu", "init=kaiming", "model.depth=1", "seed=0", "trainer.epochs=1", "dataset.n_samples=200"]


def sweep(
    folder: Path, extra: list[str], axes: list[str] = SWEEP, jobs: int | None = SWEEP_JOBS
) -> tuple[float, float, int]:
    """Wall time of the sweep, the time its jobs spent in their training loops, and its number of
    jobs (checked against `jobs` where given)."""
    tic = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "annlab.run", "-m", *axes, *extra],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - tic
    lines = [json.loads(x) for f in folder.rglob("annlab_jobs-*.jsonl") for x in f.read_text().splitlines()]
    expected = jobs if jobs is not None else len(lines)
    if proc.returncode != 0 or f"{expected} jobs: {expected} finished" not in proc.stdout:
        sys.exit(f"sweep failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall, sum(float(o["train_s"]) for o in lines), len(lines)


def _metrics(store: Path) -> dict[str, list[Metric]]:
    """Every metric value of every run, read from the store's table in one query (MlflowClient
    would take a call per run and key)."""
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT run_uuid, key, value, timestamp, step FROM metrics").fetchall()
    metrics: dict[str, list[Metric]] = {}
    for run_id, key, value, timestamp, step in rows:
        metrics.setdefault(run_id, []).append(Metric(key, value, timestamp, step))
    return metrics


def floor(store: Path) -> float:
    """Seconds per run to log, with MlflowClient alone, what each run of the sweep logged."""
    source = MlflowClient(f"sqlite:///{store}")
    experiments = [e.experiment_id for e in source.search_experiments()]  # the sweep's (a study names its own)
    runs: list[Run] = source.search_runs(experiments, max_results=10000)
    metrics = _metrics(store)
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = [Path(source.download_artifacts(r.info.run_id, "", f"{tmp}/{i}")) for i, r in enumerate(runs)]
        client = MlflowClient(f"sqlite:///{tmp}/floor.db")
        experiment = client.create_experiment("floor")
        tic = time.perf_counter()
        for run, folder in zip(runs, artifacts, strict=True):
            new = client.create_run(experiment, tags=run.data.tags).info.run_id
            client.log_batch(new, params=[Param(k, v) for k, v in run.data.params.items()])
            logged = metrics.get(run.info.run_id, [])
            for i in range(0, len(logged), 1000):
                client.log_batch(new, metrics=logged[i : i + 1000])
            client.log_batch(new, tags=[RunTag("annlab.heartbeat", "0")])
            client.log_artifacts(new, str(folder))
            client.set_terminated(new)
        return (time.perf_counter() - tic) / len(runs)


def report(label: str, wall: float, training: float, jobs: int, mlflow_floor: float) -> None:
    """Print the per-job overhead against the floor."""
    per_job = (wall - training) / jobs
    print(
        f"  {label:<22} wall {wall:5.1f} s, in training loops {training:4.1f} s -> {per_job * 1000:4.0f} ms a job"
        f" outside training; MLflow's floor {mlflow_floor * 1000:3.0f} ms a run -> {per_job / mlflow_floor:.1f}x"
    )


def study(name: str) -> None:
    """The per-job overhead of a whole study's sweep against the floor of its own runs."""
    with tempfile.TemporaryDirectory() as tmp:
        wall, training, jobs = sweep(Path(tmp), [], [f"+experiments={name}"], None)
        print(f"{name} ({jobs} jobs):")
        report("annlab's sweeper", wall, training, jobs, floor(Path(tmp) / "mlflow.db"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", help="measure this study's whole sweep instead (e.g. vanishing_gradients)")
    args = parser.parse_args()
    if args.study:
        study(args.study)
        return
    print(f"{SWEEP_JOBS}-job sweep: {' '.join(SWEEP)}")
    with tempfile.TemporaryDirectory() as tmp:
        wall, training, _ = sweep(Path(tmp), [], ONE_JOB, 1)
        single = wall - training
    for label, extra in (("annlab's sweeper", []), ("Hydra's basic sweeper", ["hydra/sweeper=basic"])):
        with tempfile.TemporaryDirectory() as tmp:
            wall, training, _ = sweep(Path(tmp), extra)
            mlflow_floor = floor(Path(tmp) / "mlflow.db")
        report(label, wall, training, SWEEP_JOBS, mlflow_floor)
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
