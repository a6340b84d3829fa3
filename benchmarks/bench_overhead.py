"""Benchmark: probe overhead per training step and MLflow's share of a job's wall time.

    python benchmarks/bench_overhead.py

Prints ratios measured in this one run (never absolute targets): an instrumented training step
(all per-layer stats every step, on the fixed probe batch) over a bare PyTorch step, for a
depth-10, width-64 MLP at batch 128 on one thread, at the default probe batch size and a small
one, and at the default probe cadence; what one probe costs (its forward+backward pass, its
stats); the floor the pass alone sets (a bare step on batch + probe-batch rows over one on batch
rows); the share of real jobs' wall time spent in MLflow calls on a fresh SQLite store; and what
recording the per-layer distributions at the default cadence adds to those jobs.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from annlab.config import init, layer
from annlab.net.model import MLP
from annlab.run import compose_config
from annlab.train.job import run_job
from annlab.train.loop import train
from annlab.train.probes import Probe
from annlab.train.setup import prepare
from annlab.train.summary import param_summary

DEPTH, WIDTH, BATCH, FEATURES, CLASSES = 10, 64, 128, 32, 10
STEPS, ROUNDS = 400, 5


def _net() -> tuple[MLP, torch.optim.Optimizer]:
    torch.manual_seed(0)
    hidden = [layer(WIDTH, "relu", "kaiming_normal", {"nonlinearity": "relu"})] * DEPTH
    model = MLP(FEATURES, hidden, CLASSES, "multiclass", init("kaiming_normal"))
    return model, torch.optim.SGD(model.parameters(), lr=0.01)


def _timed(fns: dict[str, Callable[[int], object]]) -> dict[str, float]:
    """Median us per call of each fn, over ROUNDS rounds interleaved so that drift hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(ROUNDS):
        for name, fn in fns.items():
            for i in range(20):
                fn(i)
            tic = time.perf_counter()
            for i in range(STEPS):
                fn(i)
            times[name].append((time.perf_counter() - tic) / STEPS * 1e6)
    return {name: statistics.median(t) for name, t in times.items()}


def step_costs(probe_batch: int, cadences: tuple[int, ...]) -> None:
    """Print the instrumented/bare step ratio at each cadence, with what one probe costs split
    into its forward+backward pass and its stats, and the floor that the pass sets: a bare step
    on batch + probe-batch rows over a bare step on batch rows."""
    model, opt = _net()
    x, y = torch.randn(BATCH * 32, FEATURES), torch.randint(0, CLASSES, (BATCH * 32,))
    probe = Probe(model, x[-probe_batch:], y[-probe_batch:], F.cross_entropy)
    kept: list[torch.Tensor] = []

    def bare(i: int, rows: int = BATCH) -> None:
        j = (i % 16) * BATCH
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[j : j + rows]), y[j : j + rows]).backward()
        opt.step()

    def instrumented(i: int, every: int) -> None:
        pending = probe.measure() if i % every == 0 else None
        bare(i)
        if pending is not None:
            kept.append(probe.finish(pending))  # what the RunLogger keeps until it flushes

    fns: dict[str, Callable[[int], object]] = {
        "bare": bare,
        "floor": lambda i: bare(i, BATCH + probe_batch),
        "pass": lambda i: probe.forward_backward(),  # what Probe.measure does before its stats
        "probe": lambda i: probe.finish(probe.measure()),
    }
    for every in cadences:
        fns[f"every={every}"] = lambda i, every=every: instrumented(i, every)
    t = _timed(fns)
    b, stats = t["bare"], t["probe"] - t["pass"]
    print(
        f"  probe.batch_size={probe_batch}: bare step {b:.0f} us; one probe {t['probe']:.0f} us ="
        f" pass {t['pass']:.0f} + stats {stats:.0f} ({stats / b:.2f}x a bare step);"
        f" floor at every step {t['floor'] / b:.2f}x"
    )
    for every in cadences:
        print(f"    probe.every={every:<3} instrumented/bare {t[f'every={every}'] / b:.2f}x")


def train_batch_costs() -> None:
    """probe.batch=train: every stat of every layer at every step, taken from the training step's
    own forward and backward pass, against a bare step (a ratio to watch; the target that stands
    is bench_trace.py's whole-process one, at most 2.5x)."""
    model, opt = _net()
    x, y = torch.randn(BATCH * 16, FEATURES), torch.randint(0, CLASSES, (BATCH * 16,))
    probe = Probe(model, x[:BATCH], y[:BATCH], F.cross_entropy)
    kept: list[torch.Tensor] = []

    def bare(i: int) -> None:
        j = (i % 16) * BATCH
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[j : j + BATCH]), y[j : j + BATCH]).backward()
        opt.step()

    def traced(i: int) -> None:
        j = (i % 16) * BATCH
        opt.zero_grad(set_to_none=True)
        keep: list = []
        pending = probe.measure_step(keep, F.cross_entropy(model(x[j : j + BATCH], keep=keep), y[j : j + BATCH]), 1.0)
        opt.step()
        kept.append(probe.finish(pending))

    t = _timed({"bare": bare, "traced": traced})
    ratio = t["traced"] / t["bare"]
    print(f"  probe.batch=train, every step: bare {t['bare']:.0f} us, traced {t['traced']:.0f} us -> {ratio:.2f}x")


class NullSink:
    """Drops everything: the job without tracking."""

    def layer_stats(self, step: int, values: torch.Tensor) -> None:
        pass

    def layer_distributions(self, rows: list) -> None:
        pass

    def epoch_metrics(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        pass


def logging_share(overrides: list[str], label: str) -> None:
    """Wall time of a real job (run_job into a fresh SQLite store) against the same job with
    tracking dropped; the difference is what MLflow logging costs the job, background thread
    included. Medians of interleaved repeats."""
    base = ["activation=relu", "init=kaiming", "dataset=moons", "dataset.n_samples=1000", "model.depth=3"]
    cfg = compose_config([*base, *overrides, "resume=false"])  # the same job three times, not skipped
    tracked, untracked, blocked = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        run_job(compose_config([*base, "trainer.epochs=1", "resume=false"]), uri=uri)  # store made, imports warm
        for _ in range(3):
            tic = time.perf_counter()
            data, model, device = prepare(cfg)
            param_summary(model, (5, data.n_features))  # run_job makes it too, for its artifact
            train(model, data, cfg, NullSink(), device)
            untracked.append(time.perf_counter() - tic)
            result = run_job(cfg, uri=uri)
            tracked.append(result.seconds)
            blocked.append(result.logging_seconds)
    t, u = statistics.median(tracked), statistics.median(untracked)
    print(
        f"  {label}:\n    job {t:.2f}s, same job untracked {u:.2f}s -> MLflow share {(t - u) / t:.1%}"
        f" (of which blocked in MLflow calls {statistics.median(blocked):.2f}s)"
    )


def distributions_share(overrides: list[str], label: str) -> None:
    """Wall time of a real job recording the distributions at the default cadence against the
    same job with probe.distributions=0 (issue 10's target: at most 10% more). Medians of
    interleaved repeats, each into the same fresh SQLite store."""
    times: dict[int, list[float]] = {5: [], 0: []}
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        run_job(compose_config([*overrides, "trainer.epochs=1", "resume=false"]), uri=uri)  # warm
        for _ in range(3):
            for points in times:
                cfg = compose_config([*overrides, f"probe.distributions={points}", "resume=false"])
                times[points].append(run_job(cfg, uri=uri).seconds)
    on, off = statistics.median(times[5]), statistics.median(times[0])
    default = compose_config(overrides).probe.distributions
    print(f"  {label}: probe.distributions={default} {on:.2f}s, =0 {off:.2f}s -> {on / off - 1:+.1%} of the job")


BENCH_JOB = [
    f"model.depth={DEPTH}",
    f"model.width={WIDTH}",
    f"trainer.batch_size={BATCH}",
    "trainer.epochs=20",
    "dataset=make_classification",
    "dataset.n_samples=5000",
    f"dataset.params.n_features={FEATURES}",
    "++dataset.params.n_informative=16",
    f"++dataset.params.n_classes={CLASSES}",
]


def main() -> None:
    torch.set_num_threads(1)
    default = compose_config().probe
    print(f"Probe overhead, depth {DEPTH}, width {WIDTH}, batch {BATCH}, 1 thread (median of {ROUNDS} rounds):")
    for probe_batch in (default.batch_size, 32):
        step_costs(probe_batch, (1, default.every))
    train_batch_costs()
    print("MLflow logging share of a job's wall time (SQLite store, default probe settings):")
    logging_share([], "default job (relu d3 w32, moons 1000, 20 epochs)")
    bench_job = f"benchmark job (relu d{DEPTH} w{WIDTH} batch {BATCH}, 5000 examples, 20 epochs)"
    logging_share(BENCH_JOB, bench_job)
    print("Per-layer distributions' share of a job's wall time (histograms and quantiles at the default cadence):")
    distributions_share([], "default job (python -m annlab.run)")
    distributions_share(BENCH_JOB, bench_job)


if __name__ == "__main__":
    main()
