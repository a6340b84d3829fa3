"""Benchmark: a 10,000-step job traced at every step, as a whole process, against a bare script.

    python benchmarks/bench_trace.py [STEPS]

Times, as whole processes (imports included): `python -m annlab.run probe=train ...` (every stat
of every layer at every step, the full table to layer_stats.parquet, MLflow series thinned to
tracking.metric_points) and a bare PyTorch script doing the same training (the same MLP, data
size, batches, optimiser and per-epoch evaluation of train and validation loss, no probes, no
tracking). Prints both, their ratio (issue 12's target: at most 2.5x) and MLflow's share of the
annlab job's wall time (the job's own count of seconds spent in MLflow calls; target under 10%).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEPTH, WIDTH, BATCH, FEATURES, CLASSES = 10, 64, 128, 32, 10
EPOCHS = 25

BARE = """
import math, sys, torch, torch.nn as nn, torch.nn.functional as F
from sklearn.datasets import make_classification
torch.set_num_threads(1)
n, depth, width, batch, epochs, features, classes = (int(v) for v in sys.argv[1:8])
x, y = make_classification(n, n_features=features, n_informative=16, n_classes=classes, random_state=0)
x = torch.tensor((x - x.mean(0)) / x.std(0), dtype=torch.float32); y = torch.tensor(y)
split = int(0.8 * n); xt, yt, xv, yv = x[:split], y[:split], x[split:], y[split:]
torch.manual_seed(0)
layers, fan_in = [], features
for _ in range(depth):
    layers += [nn.Linear(fan_in, width), nn.ReLU()]; fan_in = width
model = nn.Sequential(*layers, nn.Linear(fan_in, classes))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
g = torch.Generator().manual_seed(0)
for epoch in range(epochs):
    order = torch.randperm(split, generator=g)
    for start in range(0, split, batch):
        idx = order[start:start + batch]
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xt[idx]), yt[idx]).backward()
        opt.step()
    with torch.no_grad():
        F.cross_entropy(model(xt), yt); F.cross_entropy(model(xv), yv)
"""


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    n = steps * BATCH // EPOCHS * 10 // 8  # 80% of n is training data: steps / EPOCHS batches an epoch
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bare.py"
        script.write_text(BARE)
        tic = time.perf_counter()
        args = [n, DEPTH, WIDTH, BATCH, EPOCHS, FEATURES, CLASSES]
        subprocess.run([sys.executable, str(script), *map(str, args)], check=True, cwd=tmp)
        bare = time.perf_counter() - tic
        overrides = [
            "probe=train", f"model.depth={DEPTH}", f"model.width={WIDTH}", f"trainer.batch_size={BATCH}",
            f"trainer.epochs={EPOCHS}", "dataset=make_classification", f"dataset.n_samples={n}",
            f"dataset.params.n_features={FEATURES}", "++dataset.params.n_informative=16",
            f"++dataset.params.n_classes={CLASSES}", "optimizer.lr=0.01",
        ]  # fmt: skip
        tic = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "annlab.run", "-m", *overrides], cwd=tmp, capture_output=True, text=True
        )
        whole = time.perf_counter() - tic
        if proc.returncode != 0:
            sys.exit(proc.stdout[-2000:] + proc.stderr[-2000:])
        (line,) = [json.loads(x) for f in Path(tmp).rglob("annlab_jobs-*.jsonl") for x in f.read_text().splitlines()]
    print(f"{steps} steps (depth {DEPTH}, width {WIDTH}, batch {BATCH}, {EPOCHS} epochs), whole processes:")
    print(f"  bare PyTorch script {bare:6.1f} s")
    print(f"  annlab, probe=train {whole:6.1f} s  -> {whole / bare:.2f}x")
    job, mlflow = float(line["job_s"]), float(line["mlflow_s"])
    print(f"  MLflow's share of the annlab job: {mlflow:.1f} s of {job:.1f} s ({mlflow / job:.1%})")


if __name__ == "__main__":
    main()
