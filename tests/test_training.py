"""Training: deterministic, untouched by probing, divergence recorded as a result."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
import torch
from conftest import FAST
from mlflow.tracking import MlflowClient

from annlab.config import RunConfig
from annlab.record import STATS
from annlab.train.job import run_job
from annlab.train.loop import train
from annlab.train.schedule import thinned
from annlab.train.setup import prepare


class Collect:
    """A Sink that keeps everything in memory."""

    def __init__(self) -> None:
        self.stats: dict[int, torch.Tensor] = {}
        self.epochs: list[dict[str, float]] = []
        self.distributions: list[tuple] = []

    def layer_stats(self, step: int, values: torch.Tensor) -> None:
        self.stats[step] = values

    def layer_distributions(self, rows: list[tuple]) -> None:
        self.distributions.extend(rows)

    def epoch_metrics(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        self.epochs.append(metrics)


def trained(cfg: RunConfig) -> tuple[torch.nn.Module, Collect]:
    data, model, device = prepare(cfg)
    sink = Collect()
    train(model, data, cfg, sink, device)
    return model, sink


def test_same_config_and_seed_give_the_same_numbers(config: Callable[..., RunConfig]) -> None:
    cfg = config(*FAST, "activation=tanh", "init=xavier")
    (m1, s1), (m2, s2) = trained(cfg), trained(cfg)
    for p1, p2 in zip(m1.parameters(), m2.parameters(), strict=True):
        assert torch.equal(p1, p2)
    assert s1.epochs == s2.epochs
    assert all(torch.equal(s1.stats[k], s2.stats[k]) for k in s1.stats)
    m3, _ = trained(config(*FAST, "activation=tanh", "init=xavier", "seed=1"))
    assert not torch.equal(next(m1.parameters()), next(m3.parameters()))


def test_probing_does_not_change_training(config: Callable[..., RunConfig]) -> None:
    every, rarely = trained(config(*FAST, "probe.every=1")), trained(config(*FAST, "probe.every=1000"))
    for p1, p2 in zip(every[0].parameters(), rarely[0].parameters(), strict=True):
        assert torch.equal(p1, p2)
    steps = sorted(every[1].stats)
    assert steps == list(range(len(steps)))  # every step, 0 included
    assert sorted(rarely[1].stats) == [0, steps[-1]]  # step 0 and the last step


def test_probe_schedule_and_shape(config: Callable[..., RunConfig]) -> None:
    cfg = config(*FAST, "model.depth=4", "probe.every=3", "trainer.batch_size=32")
    _, sink = trained(cfg)
    last = 2 * 5 - 1  # 160 training examples at batch 32: 5 steps per epoch, 2 epochs
    assert sorted(sink.stats) == [0, 3, 6, last]
    assert all(v.shape == (len(STATS), 5) for v in sink.stats.values())
    assert all(torch.isfinite(v).all() for v in sink.stats.values())


def test_zero_init_never_breaks_symmetry(config: Callable[..., RunConfig]) -> None:
    _, sink = trained(config(*FAST, "init=zeros", "activation=tanh", "probe.every=1", "trainer.epochs=3"))
    cosine = torch.stack([v[STATS.index("unit_cosine"), :-1] for v in sink.stats.values()])
    assert torch.equal(cosine, torch.ones_like(cosine))
    _, sink = trained(config(*FAST, "init=xavier", "activation=tanh"))
    assert sink.stats[0][STATS.index("unit_cosine"), :-1].abs().max() < 0.5


def test_divergence_is_a_recorded_result_not_a_crash(config: Callable[..., RunConfig], store: str) -> None:
    cfg = config(*FAST, "init=normal", "init.params.std=10", "optimizer.lr=1e6", "dataset=diabetes", "model.depth=3")
    result = run_job(cfg, uri=store)
    assert result.status == "FINISHED" and result.diverged and "non-finite" in result.error
    run = MlflowClient(store).get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["diverged"] == "true" and run.data.metrics["diverged"] == 1.0
    assert "DIVERGED" in result.line()


def test_scores_move_the_right_way(config: Callable[..., RunConfig]) -> None:
    _, sink = trained(config("activation=tanh", "init=xavier", "trainer.epochs=15", "dataset.n_samples=400"))
    assert sink.epochs[-1]["val/acc"] > 0.8 and sink.epochs[-1]["train/loss"] < sink.epochs[0]["train/loss"]
    _, sink = trained(config("dataset=diabetes", "trainer.epochs=20", "optimizer.lr=0.01", "model.depth=1"))
    assert 0.2 < sink.epochs[-1]["val/r2"] <= 1.0


def test_learned_activation_parameters_are_recorded_per_layer(config: Callable[..., RunConfig], store: str) -> None:
    """PReLU's slopes move during training: the table holds their min / mean / max per hidden
    layer at every probe step, and act_param_mean/layer_LL is a metric of each layer that learns one."""
    cfg = config(*FAST, "activation=prelu", "model.depth=2", "optimizer.lr=0.5", "activation.params.num_parameters=16")
    result = run_job(cfg, uri=store)
    client = MlflowClient(store)
    table = pd.read_parquet(client.download_artifacts(result.run_id, "layer_stats.parquet"))
    hidden = table[table.layer <= 2]
    assert (hidden.act_param_min <= hidden.act_param_mean).all() and (
        hidden.act_param_mean <= hidden.act_param_max
    ).all()
    first = hidden[hidden.step == 0]
    assert first.act_param_mean.tolist() == [pytest.approx(0.25)] * 2  # PReLU's initial slope
    last = hidden[hidden.step == hidden.step.max()]
    assert (last.act_param_max - last.act_param_min).min() > 0  # 16 slopes per layer, moved apart
    assert table[table.layer == 3].act_param_mean.isna().all()  # the output layer learns none
    history = client.get_metric_history(result.run_id, "act_param_mean/layer_02")
    assert [m.step for m in history] == sorted(hidden.step.unique().tolist())
    assert history[-1].value == pytest.approx(float(last[last.layer == 2].act_param_mean.iloc[0]))
    assert not client.get_metric_history(result.run_id, "act_param_mean/layer_03")
    relu = run_job(config(*FAST), uri=store)
    assert "act_param_mean" not in pd.read_parquet(client.download_artifacts(relu.run_id, "layer_stats.parquet"))


def test_probing_the_training_batch_trains_bit_for_bit_as_the_fixed_probe(config: Callable[..., RunConfig]) -> None:
    """probe=train traces every step, from the step's own batch; the training itself (weights,
    epoch metrics) is exactly what the fixed probe's run gives, and the shorter last batch of
    each epoch is probed too."""
    runs = {}
    for probe in ("default", "train"):
        cfg = config(f"probe={probe}", "trainer.epochs=3", "dataset.n_samples=230", "activation=prelu")
        data, model, device = prepare(cfg)
        sink = Collect()
        result = train(model, data, cfg, sink, device)
        runs[probe] = (result, sink, [p.detach().clone() for p in model.parameters()])
    (fixed, fixed_sink, fixed_params), (traced, traced_sink, traced_params) = runs["default"], runs["train"]
    assert fixed.final == traced.final and fixed_sink.epochs == traced_sink.epochs
    assert all(torch.equal(a, b) for a, b in zip(fixed_params, traced_params, strict=True))
    assert traced.steps == 9  # 184 training rows in batches of 64: three steps an epoch, the last of 56
    assert sorted(traced_sink.stats) == list(range(9))
    assert sorted(fixed_sink.stats) == [0, 8]


def test_every_step_in_the_table_a_thinned_series_in_mlflow(config: Callable[..., RunConfig], store: str) -> None:
    """probe=train with tracking.metric_points=5: layer_stats.parquet holds every step, each
    MLflow series 5 evenly spaced points with step 0 and the last step among them."""
    cfg = config("probe=train", "trainer.epochs=4", "dataset.n_samples=400", "tracking.metric_points=5")
    result = run_job(cfg, uri=store)
    client = MlflowClient(store)
    table = pd.read_parquet(client.download_artifacts(result.run_id, "layer_stats.parquet"))
    assert sorted(table.step.unique()) == list(range(20))  # 320 training rows / 64: 5 steps an epoch
    for key in ("grad_z_norm/layer_01", "a_std/layer_04"):
        history = client.get_metric_history(result.run_id, key)
        assert sorted(m.step for m in history) == [0, 5, 10, 14, 19]
    last = table[(table.step == 19) & (table.layer == 1)].grad_z_norm.iloc[0]
    assert client.get_metric_history(result.run_id, "grad_z_norm/layer_01")[-1].value == pytest.approx(last)


@pytest.mark.parametrize(
    ("n", "points", "expected"),
    [(3, 5, [0, 1, 2]), (5, 5, [0, 1, 2, 3, 4]), (10, 2, [0, 9]), (101, 3, [0, 50, 100]), (20, 5, [0, 5, 10, 14, 19])],
)
def test_thinned_keeps_the_ends_and_spaces_the_rest_evenly(n: int, points: int, expected: list[int]) -> None:
    assert sorted(thinned(list(range(n)), points)) == expected
