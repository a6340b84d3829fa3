"""Benchmark: every-step tracing (probe=train) of a group of same-shape jobs against the same group untraced.

    python benchmarks/bench_group_trace.py [--members 8] [--steps 2000] [--width 64] [--rounds 2] [--sequential]

Runs the same sweep of MEMBERS jobs (seeds 0.., tanh + xavier, depth 5, width WIDTH, batch 128,
moons sized for STEPS optimiser steps a job) through hydra/launcher=vectorized, so that they train
as one group: untraced (probe=default: the fixed probe batch every 50 steps) and traced
(probe=train: every stat of every layer of every member at every step), alternately, ROUNDS
times each, each sweep in a fresh folder with a fresh SQLite store. Prints each sweep's wall time
and its group's training loop (the runs' train_seconds, summed: the loop's time), and the
median ratios (issue 24's target: the traced loop at most 1.5x the untraced one). Both sweeps
set tracking.metric_points=2 (the least: the first and last step), so that the per-layer series
in MLflow are the same two points for both: those cost per run, not per step (every stat of
every layer at metric_points steps, about 170 us a value in MLflow's SQLite store: 2.7 s a
traced run at the default 200, paid by a traced job alone or in a group alike), and their
writer thread would share the loop's time; the per-step table still goes to layer_stats.parquet.
With --sequential, the traced sweep also runs one job after another (hydra/launcher=basic), for
what tracing the same jobs costs without the stack. Machines of this kind differ 2x from one
session to the next and drift within one: only ratios of one run mean anything.
"""

from __future__ import annotations

import argparse
import statistics

from bench_study import ROOT, timed_sweep
from bench_vectorized import training_seconds

BATCH, EPOCHS = 128, 40


def sweep(members: int, steps: int, width: int, probe: str, launcher: str = "vectorized") -> tuple[float, float]:
    """Wall time and summed train_seconds of the group's sweep with `probe`."""
    n_samples = steps // EPOCHS * BATCH * 10 // 8  # 80% of the samples train: steps / EPOCHS batches an epoch
    overrides = [
        f"hydra/launcher={launcher}",
        "activation=tanh",
        "init=xavier",
        "model.depth=5",
        f"model.width={width}",
        "dataset=moons",
        f"dataset.n_samples={n_samples}",
        f"trainer.epochs={EPOCHS}",
        f"trainer.batch_size={BATCH}",
        f"seed={','.join(str(s) for s in range(members))}",
        f"probe={probe}",
        "tracking.metric_points=2",
        "progress=off",
    ]
    wall, summary, loop = timed_sweep(ROOT, None, overrides, training_seconds)
    assert loop is not None and f"{members} finished" in summary, summary
    return wall, loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=8, help="jobs in the group (default: 8)")
    parser.add_argument("--steps", type=int, default=2000, help="optimiser steps a job (default: 2000)")
    parser.add_argument("--width", type=int, default=64, help="hidden units a layer (default: 64)")
    parser.add_argument("--rounds", type=int, default=2, help="sweeps of each kind, alternating (default: 2)")
    parser.add_argument("--sequential", action="store_true", help="also trace the jobs one after another")
    args = parser.parse_args()
    walls: dict[str, list[float]] = {"default": [], "train": []}
    loops: dict[str, list[float]] = {"default": [], "train": []}
    for _ in range(args.rounds):
        for probe in ("default", "train"):
            wall, loop = sweep(args.members, args.steps, args.width, probe)
            walls[probe].append(wall)
            loops[probe].append(loop)
            name = "untraced" if probe == "default" else "traced  "
            print(f"{name} (probe={probe}): wall {wall:6.1f} s, group's training loop {loop:6.1f} s", flush=True)
    if args.sequential:
        wall, loop = sweep(args.members, args.steps, args.width, "train", "basic")
        group = statistics.median(loops["train"])
        times = f"wall {wall:6.1f} s, training loops {loop:6.1f} s ({loop / group:.2f}x the group's)"
        print(f"traced one job after another: {times}")
    loop_ratio = statistics.median(loops["train"]) / statistics.median(loops["default"])
    wall_ratio = statistics.median(walls["train"]) / statistics.median(walls["default"])
    print(
        f"group of {args.members}, width {args.width}, {args.steps} steps: traced/untraced {loop_ratio:.2f}x "
        f"in the training loop (target at most 1.5x), {wall_ratio:.2f}x wall time (medians of {args.rounds})"
    )


if __name__ == "__main__":
    main()
