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

from bench_study import ROOT, timed_sweep


def training_seconds(uri: str) -> float:
    """The runs' summed train_seconds: the training loops' share of the sweep."""
    from annlab.read.store import load

    return float(load(uri).runs.train_seconds.sum())


def measured(study: str, extra: list[str]) -> tuple[float, float, str]:
    """Wall time of the study's sweep, its runs' summed train_seconds, and its summary."""
    wall, summary, training = timed_sweep(ROOT, study, ["progress=off", *extra], training_seconds)
    assert training is not None
    return wall, training, summary.removeprefix("annlab: sweep summary: ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="trainability", help="the study (default: trainability)")
    parser.add_argument("overrides", nargs="*", help="extra overrides for both sweeps")
    args = parser.parse_args()
    # hydra/launcher=basic: a study whose file picks the vectorized launcher runs one job after another too
    one, one_training, one_summary = measured(args.study, [*args.overrides, "hydra/launcher=basic"])
    print(f"one after another: {one:6.1f} s, training loops {one_training:6.1f} s  ({one_summary})", flush=True)
    both, both_training, both_summary = measured(args.study, [*args.overrides, "hydra/launcher=vectorized"])
    print(f"vectorized:        {both:6.1f} s, training loops {both_training:6.1f} s  ({both_summary})")
    speedup = f"{one / both:.2f}x faster wall time, {one_training / both_training:.2f}x in the training loops"
    print(f"{args.study}: {speedup}")


if __name__ == "__main__":
    main()
