"""Benchmark: building the reports from a store of 1,000 runs x 10 layers x 50 probe steps.

    python benchmarks/bench_reports.py [--runs 1000] [--store DIR] [--naive-sample 20]

The store is generated synthetically through the real tracking code (RunLogger: params,
per-layer metrics with log_batch, the layer and epoch tables as artifacts) and kept in --store
so that later runs skip the generation. Prints, measured in this one run: the wall time to build
every report PDF, and the time of the naive path that reads each run's metric histories with one
get_metric_history call per key, measured on --naive-sample runs and scaled to all of them.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from mlflow.tracking import MlflowClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from annlab.read.report import main as build_reports
from annlab.read.store import client_for, load_runs
from annlab.record import STATS, layer_key
from annlab.train.experiments import ensure_experiment
from annlab.train.tracking import RunLogger, flatten

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "gelu")
INITS = ("xavier", "kaiming", "default", "normal", "orthogonal")
LAYERS, PROBES, EPOCHS, EXPERIMENT = 10, 50, 20, "bench"


def synthetic_stats(rng: np.random.Generator, activation: str) -> torch.Tensor:
    """[STATS, LAYERS] values of plausible size: gradients shrink towards the input for sigmoid."""
    values = rng.uniform(0.0, 1.0, (len(STATS), LAYERS))
    decay = 0.25 if activation == "sigmoid" else 0.9
    values[STATS.index("grad_z_norm")] = 0.05 * decay ** np.arange(LAYERS - 1, -1, -1) * rng.uniform(0.8, 1.2)
    return torch.tensor(values, dtype=torch.float32)


def generate(uri: str, runs: int) -> float:
    tic = time.perf_counter()
    experiment_id = ensure_experiment(uri, EXPERIMENT)
    grid = itertools.product(range(runs // (len(ACTIVATIONS) * len(INITS)) + 1), ACTIVATIONS, INITS)
    for n, (seed, activation, init) in enumerate(itertools.islice(grid, runs)):
        rng = np.random.default_rng(n)
        name = f"{activation}-{init}-d{LAYERS - 1}-moons-s{seed}"
        logger = RunLogger(uri, experiment_id, name, {"annlab.task": "binary", "annlab.depth": str(LAYERS - 1)})
        config = {
            "activation": {"name": activation},
            "init": {"name": init},
            "model": {"depth": LAYERS - 1},
            "dataset": {"name": "moons"},
            "seed": seed,
        }
        logger.log_params(flatten(config))
        for step in range(PROBES):
            logger.layer_stats(step * 10, synthetic_stats(rng, activation))
        for epoch in range(1, EPOCHS + 1):
            loss = 0.7 * np.exp(-epoch / 10) + 0.1 * rng.uniform()
            logger.epoch_metrics(
                epoch,
                epoch * 25,
                {"train/loss": loss, "train/acc": 1 - loss, "val/loss": loss * 1.1, "val/acc": 0.95 - loss},
            )
        logger.log_artifacts({"layer_stats.parquet": logger.layer_table(), "epochs.parquet": logger.epoch_table()})
        logger.end("FINISHED")
        if (n + 1) % 100 == 0:
            print(f"  generated {n + 1}/{runs} runs ({time.perf_counter() - tic:.0f}s)", flush=True)
    return time.perf_counter() - tic


def naive_seconds(uri: str, sample: int) -> tuple[float, int]:
    """Read `sample` runs' per-layer and epoch metrics one get_metric_history call per key."""
    client = MlflowClient(uri)
    runs = load_runs(client_for(uri), [EXPERIMENT]).head(sample)
    keys = [layer_key(layer, stat) for layer in range(1, LAYERS + 1) for stat in STATS]
    keys += ["train/loss", "train/acc", "val/loss", "val/acc"]
    tic = time.perf_counter()
    for run_id in runs.run_id:
        for key in keys:
            client.get_metric_history(run_id, key)
    return time.perf_counter() - tic, len(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--store", type=Path, help="folder to keep the generated store in (default: a temp dir)")
    parser.add_argument("--naive-sample", type=int, default=20)
    args = parser.parse_args()
    folder = args.store or Path(tempfile.mkdtemp())
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    marker = folder / f"complete-{args.runs}"
    if not marker.exists():
        print(f"Generating {args.runs} runs x {LAYERS} layers x {PROBES} probe steps into {uri} ...", flush=True)
        seconds = generate(uri, args.runs)
        marker.touch()
        print(f"  generated in {seconds:.0f}s")
    out = Path(tempfile.mkdtemp())
    tic = time.perf_counter()
    assert build_reports(["--uri", uri, "-e", EXPERIMENT, "--out", str(out)]) == 0
    report = time.perf_counter() - tic
    naive, sampled = naive_seconds(uri, args.naive_sample)
    naive_all = naive / sampled * args.runs
    print(f"Reports from {args.runs} runs: {report:.1f}s (read, aggregate and draw every page)")
    print(
        f"Naive read path (get_metric_history per run and key): {naive:.1f}s for {sampled} runs "
        f"-> {naive_all:.0f}s for {args.runs} (reading alone, scaled linearly)"
    )
    print(f"Ratio naive / reports: {naive_all / report:.1f}x")


if __name__ == "__main__":
    main()
