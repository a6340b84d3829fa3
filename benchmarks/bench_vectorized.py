"""Benchmark: a study's sweep with the default launcher, then with hydra/launcher=vectorized.

    python benchmarks/bench_vectorized.py [--study trainability] [extra overrides ...]

Runs `python -m annlab.run -m +experiments=STUDY` twice, back to back, each in a fresh folder with
a fresh SQLite store: first one job after another, then with same-shape jobs trained together.
Prints both wall times, the training loops' share (the runs' train_seconds, summed) and the
speed-ups (issue 24's target for trainability: at least 2x on the wall time). Machines of this
kind differ 2x from one session to the next, so only ratios of one run mean anything.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed_sweep(study: str, extra: list[str]) -> tuple[float, float, str]:
    """Wall time of the study's sweep, its runs' summed train_seconds, and its summary line."""
    from annlab.read.store import load

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with tempfile.TemporaryDirectory() as folder:
        tic = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "annlab.run", "-m", f"+experiments={study}", "progress=off", *extra],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - tic
        summary = next((line for line in proc.stdout.splitlines() if "sweep summary" in line), "")
        if not summary:
            sys.exit(f"the sweep failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        training = float(load(f"sqlite:///{folder}/mlflow.db").runs.train_seconds.sum())
    return wall, training, summary.removeprefix("annlab: sweep summary: ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="trainability", help="the study (default: trainability)")
    parser.add_argument("overrides", nargs="*", help="extra overrides for both sweeps")
    args = parser.parse_args()
    one, one_training, one_summary = timed_sweep(args.study, args.overrides)
    print(f"one after another: {one:6.1f} s, training loops {one_training:6.1f} s  ({one_summary})", flush=True)
    both, both_training, both_summary = timed_sweep(args.study, [*args.overrides, "hydra/launcher=vectorized"])
    print(f"vectorized:        {both:6.1f} s, training loops {both_training:6.1f} s  ({both_summary})")
    speedup = f"{one / both:.2f}x faster wall time, {one_training / both_training:.2f}x in the training loops"
    print(f"{args.study}: {speedup}")


if __name__ == "__main__":
    main()
