"""Benchmark: every-step tracing (probe=train) of a group of same-shape jobs against the same group untraced.

    python benchmarks/bench_group_trace.py [--members 8] [--steps 2000] [--width 64] [--rounds 2] [--sequential]
    python benchmarks/bench_group_trace.py --interleaved [--members 8] [--steps 2000] [--width 64]

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

With --interleaved, both groups are built in this process instead (the same jobs, each member
with its own MLflow run in a temp SQLite store) and trained step by step in turn, their epoch
metrics too, each going first every other step and epoch: the drift of the machine, which moves
one sweep's loop time by 1.5x against the next's here, then falls on both alike, and so does the
allocator's reuse (the second of two epoch evaluations finds the memory the first one freed, 0.2
ms a step). It prints each group's summed loop time, the ratio, and the median step of each.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

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


def interleaved(members: int, steps: int, width: int) -> None:
    """The traced and the untraced group stepped in turn in this process (see the docstring)."""
    import tempfile
    import time

    import torch
    from mlflow import MlflowClient

    from annlab.run import compose_config
    from annlab.train.loop import Member, _Group
    from annlab.train.schedule import last_step, probe_steps, thinned
    from annlab.train.setup import prepare
    from annlab.train.tracking import RunLogger

    uri = f"sqlite:///{tempfile.mkdtemp()}/mlflow.db"
    experiment = MlflowClient(uri).create_experiment("bench_group_trace")
    n_samples = steps // EPOCHS * BATCH * 10 // 8
    groups, loggers = {}, []
    for probe in ("train", "default"):
        group = []
        for seed in range(members):
            shape = ["activation=tanh", "init=xavier", "model.depth=5", f"model.width={width}", "dataset=moons"]
            size = [f"dataset.n_samples={n_samples}", f"trainer.epochs={EPOCHS}", f"trainer.batch_size={BATCH}"]
            cfg = compose_config([*shape, *size, f"seed={seed}", f"probe={probe}"])
            data, model, device = prepare(cfg)
            loggers.append(RunLogger(uri, experiment, f"{probe}-{seed}", {}, {0, steps - 1}))
            group.append(Member(model, data, cfg, loggers[-1]))
        groups[probe] = _Group(group, device)
    spent = dict.fromkeys(groups, 0.0)
    times: dict[str, list[float]] = {probe: [] for probe in groups}

    def timed(probe: str, fn: Callable[..., object], *args: object) -> None:
        tic = time.perf_counter()
        fn(*args)
        spent[probe] += time.perf_counter() - tic

    for probe, group in groups.items():
        timed(probe, group._inputs)
        timed(probe, group._epoch, 0, 0)
    n = len(groups["train"].xs[0])
    last, step = last_step(n, groups["train"].members[0].cfg), 0
    recorded = {p: thinned(probe_steps(n, g.members[0].cfg), g.p.distributions) for p, g in groups.items()}
    for epoch in range(1, EPOCHS + 1):
        orders = {p: torch.stack([torch.randperm(n, generator=g) for g in group.gens]) for p, group in groups.items()}
        for start in range(0, n, BATCH):
            # Each goes first every other step: the second finds the cache as the first left it.
            for probe in ("train", "default")[:: 1 if step % 2 else -1]:
                group = groups[probe]
                probing = step % group.p.every == 0 or step == last
                before = spent[probe]
                batch = orders[probe][..., start : start + BATCH]
                timed(probe, group._step, step, batch, probing, step in recorded[probe])
                times[probe].append(spent[probe] - before)
            step += 1
        # Each goes first every other epoch too: the second one's forward pass over the splits
        # reuses the memory the first one's freed (the first faults in its pages).
        for probe in ("train", "default")[:: 1 if epoch % 2 else -1]:
            timed(probe, groups[probe]._epoch, epoch, step)
    for logger in loggers:
        logger.end("FINISHED")
    median = {probe: statistics.median(t) * 1e3 for probe, t in times.items()}
    print(
        f"group of {members}, width {width}, {step} steps, stepped in turn: training loop traced "
        f"{spent['train']:.1f} s, untraced {spent['default']:.1f} s: traced/untraced "
        f"{spent['train'] / spent['default']:.2f}x (target at most 1.5x); median step "
        f"{median['train']:.2f} ms against {median['default']:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=8, help="jobs in the group (default: 8)")
    parser.add_argument("--steps", type=int, default=2000, help="optimiser steps a job (default: 2000)")
    parser.add_argument("--width", type=int, default=64, help="hidden units a layer (default: 64)")
    parser.add_argument("--rounds", type=int, default=2, help="sweeps of each kind, alternating (default: 2)")
    parser.add_argument("--sequential", action="store_true", help="also trace the jobs one after another")
    parser.add_argument("--interleaved", action="store_true", help="both groups in this process, stepped in turn")
    args = parser.parse_args()
    if args.interleaved:
        interleaved(args.members, args.steps, args.width)
        return
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
