"""The seed's further claims: each check fails on real data where its claim does not hold; the ranking's statistics."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Result

from annlab.read import robust
from annlab.read.store import Frames, load
from annlab.studies import activation_cost, activation_ranking
from annlab.studies.cli import check_study


def sweep(cli: Callable[..., Result], tmp_path: Path, study: str, *overrides: str) -> None:
    proc = cli(["-m", f"+experiments={study}", *overrides], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]


def verdict(study: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    code = check_study(study, f"sqlite:///{tmp_path / 'mlflow.db'}")
    return code, capsys.readouterr().out


def test_convergence_does_not_hold_when_tanh_barely_moves(
    tmp_path: Path, capsys: pytest.CaptureFixture, cli: Callable[..., Result]
) -> None:
    """tanh at a learning rate 5000x smaller than sigmoid's: sigmoid gets halfway to the lowest
    loss first."""
    small = ["dataset=moons", "seed=0", "trainer.epochs=6", "dataset.n_samples=400"]
    sweep(cli, tmp_path, "convergence_speed", *small, "activation=sigmoid", "optimizer.lr=0.5")
    sweep(cli, tmp_path, "convergence_speed", *small, "activation=tanh", "optimizer.lr=1e-4")
    code, out = verdict("convergence_speed", tmp_path, capsys)
    assert code == 1, out
    row = next(line for line in out.splitlines() if "moons: epochs to halve the way to train/loss" in line)
    took = dict(part.split()[:2] for part in re.split(r"\s{2,}", row)[2].split(", "))
    assert row.startswith("NO") and took["sigmoid"] != "never", row
    assert took["tanh"] == "never" or int(took["tanh"]) >= int(took["sigmoid"]), row


def test_zero_bias_does_not_hold_where_only_biases_break_symmetry(
    tmp_path: Path, capsys: pytest.CaptureFixture, cli: Callable[..., Result]
) -> None:
    """All-zero weights, one hidden layer: with zero biases every unit stays alike and the net
    stays at chance; random biases make the units differ and it trains."""
    sweep(cli, tmp_path, "zero_bias", "activation=tanh", "model.depth=1", "seed=0", "init=zeros")
    code, out = verdict("zero_bias", tmp_path, capsys)
    assert code == 1, out
    row = next(line for line in out.splitlines() if "tanh + zeros weights, depth 1" in line)
    zero, random = (float(x) for x in re.split(r"\s{2,}", row)[-2].split(" / "))
    assert row.startswith("NO") and zero == 0.5 and random > 0.75, row


def test_no_nonlinearity_does_not_hold_for_relu(
    tmp_path: Path, capsys: pytest.CaptureFixture, cli: Callable[..., Result]
) -> None:
    """The same grid with relu: on circles, which no line separates, depth 3 fits far better than depth 0."""
    sweep(cli, tmp_path, "no_nonlinearity", "activation=relu", "dataset=circles", "model.depth=0,3", "seed=0")
    code, out = verdict("no_nonlinearity", tmp_path, capsys)
    assert code == 1, out
    row = next(line for line in out.splitlines() if "circles, relu at depth 3" in line)
    assert row.startswith("NO"), row


@pytest.mark.slow
def test_relu_sparsity_does_not_hold_when_relu_is_rarely_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture, cli: Callable[..., Result]
) -> None:
    """Biases of 10 keep most relu units on (only deeper layers, whose inputs grew, see zeros):
    too few zeros to call it sparse."""
    sweep(cli, tmp_path, "relu_sparsity", "seed=0", "init.bias=10", "optimizer.lr=1e-6", "trainer.epochs=2")
    code, out = verdict("relu_sparsity", tmp_path, capsys)
    assert code == 1, out
    row = next(line for line in out.splitlines() if "hidden activation values exactly 0 at the end" in line)
    shares = dict(part.split() for part in re.split(r"\s{2,}", row)[2].split(", "))
    assert row.startswith("NO") and int(shares["relu"].rstrip("%")) < 30 and shares["tanh"] == "0%", row


@pytest.mark.slow  # a 16x wider net, timed: ~10 s
def test_activation_cost_reads_per_step_times_and_fails_where_relu_costs_more(
    tmp_path: Path, capsys: pytest.CaptureFixture, cli: Callable[..., Result]
) -> None:
    """relu on a net 16x wider than sigmoid's: its steps cost more, and the check says so."""
    small = ["seed=0", "dataset.n_samples=4000", "trainer.epochs=2"]
    sweep(cli, tmp_path, "activation_cost", *small, "activation=relu", "model.width=1024")
    sweep(cli, tmp_path, "activation_cost", *small, "activation=sigmoid", "model.width=64")
    frames = load(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = frames.usable.set_index("activation")
    assert (runs.steps == 8).all() and (runs.train_seconds > 0).all()
    ms = activation_cost.step_ms(frames)
    assert ms["relu"] == pytest.approx(1000 * runs.train_seconds["relu"] / 8)
    assert ms["relu"] > 2 * ms["sigmoid"]
    code, out = verdict("activation_cost", tmp_path, capsys)
    assert code == 1, out
    assert "NO  a training step: relu against sigmoid" in out


def test_robust_aggregates_on_known_scores() -> None:
    scores = np.arange(1.0, 9.0).reshape(4, 2)  # 1..8: the middle half is 3..6
    assert robust.iqm(scores) == pytest.approx(4.5)
    high, low = np.full((3, 2), 0.9), np.full((3, 2), 0.5)
    assert robust.probability_of_improvement(high, low) == 1.0
    assert robust.probability_of_improvement(low, high) == 0.0
    assert robust.probability_of_improvement(low, low) == 0.5
    mixed = np.array([[0.9, 0.4], [0.7, 0.4]])  # task 1: both beat 0.5; task 2: both lose
    assert robust.probability_of_improvement(mixed, low[:2]) == pytest.approx(0.5)
    point, lo, hi = robust.stratified_bootstrap((high, low), robust.probability_of_improvement, reps=200)
    assert point == lo == hi == 1.0
    rng = np.random.default_rng(0)
    noisy = rng.normal(0.8, 0.05, (10, 3))
    point, lo, hi = robust.stratified_bootstrap((noisy,), robust.iqm, reps=500)
    assert lo < point < hi and hi - lo < 0.1


def ranking_frames(means: dict[str, float], spread: float) -> Frames:
    """Finished runs of every activation on 3 datasets x 3 seeds x 2 learning rates, val acc
    around each activation's mean; the better learning rate has the lower val loss."""
    rng = np.random.default_rng(1)
    rows = []
    for (act, mean), dataset, seed, lr in itertools.product(means.items(), ("a", "b", "c"), (0, 1, 2), (0.01, 0.1)):
        good = lr == 0.1
        acc = mean + rng.normal(0, spread) - (0 if good else 0.2)
        rows.append(
            {"run_id": f"{act}{dataset}{seed}{lr}", "activation": act, "dataset": dataset, "seed": seed, "lr": lr,
             "status": "FINISHED", "diverged": False, "val_score": acc, "val_loss": 1 - acc}
        )  # fmt: skip
    runs = pd.DataFrame(rows)
    return Frames(runs, pd.DataFrame(), pd.DataFrame())


def test_the_ranking_check_holds_only_when_each_activation_beats_the_next() -> None:
    order = activation_ranking.SEED_ORDER
    ranked = ranking_frames({a: 0.95 - 0.05 * i for i, a in enumerate(order)}, spread=0.005)
    v = activation_ranking.check(ranked)
    assert v.holds, v.table()
    assert "learning rate chosen per dataset (a, b, c)" in v.table() and "relu 0.1/0.1/0.1" in v.table()
    tied = ranking_frames(dict.fromkeys(order, 0.9), spread=0.02)  # relu and leaky_relu alike
    v = activation_ranking.check(tied)
    assert not v.holds
    assert any(what == "P(relu > leaky_relu)" and not ok for what, _, _, ok in v.rows)


@pytest.mark.slow
def test_shrunken_ranking_runs_and_its_verdict_follows_its_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture, cli: Callable[..., Result]
) -> None:
    grid = ["dataset=moons,circles", "optimizer.lr=0.03,0.1", "seed=0,1", "trainer.epochs=5"]
    sweep(cli, tmp_path, "activation_ranking", *grid)
    code, out = verdict("activation_ranking", tmp_path, capsys)
    pairs = [line for line in out.splitlines() if "  P(" in line]
    assert len(pairs) == 4, out
    assert code == (0 if all(line.startswith("ok") for line in pairs) else 1), out
