"""Benchmark: the same 16-job sweep sequentially and with the joblib launcher on 2 workers.

    python benchmarks/bench_sweep.py

Runs `python -m annlab.run -m ...` twice, each into a fresh folder and store, and prints both wall
times and their ratio, measured in this one run (each job pins torch to one thread).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

SWEEP = [
    "activation=relu,tanh",
    "init=kaiming,xavier",
    "model.depth=4,8",
    "seed=0,1",
    "model.width=64",
    "dataset.n_samples=2000",
    "trainer.epochs=150",
    "trainer.batch_size=32",
]


def timed(extra: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        tic = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "annlab.run", "-m", *SWEEP, *extra], cwd=tmp, capture_output=True, text=True
        )
        seconds = time.perf_counter() - tic
        if proc.returncode != 0 or "16 jobs: 16 finished" not in proc.stdout:
            sys.exit(f"sweep failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    print(f"16-job sweep: {' '.join(SWEEP)}")
    sequential = timed([])
    print(f"  sequential (basic launcher):        {sequential:6.1f}s")
    parallel = timed(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])
    print(f"  hydra/launcher=joblib, n_jobs=2:    {parallel:6.1f}s")
    print(f"  ratio parallel / sequential: {parallel / sequential:.2f}x")


if __name__ == "__main__":
    main()
