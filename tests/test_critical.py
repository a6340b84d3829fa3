"""Inits that keep the backward signal alive for every activation: theory (critical) and measured (calibrated)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient
from torch import nn

from annlab.config import ConfigError, RunConfig
from annlab.net.activations import ACTIVATIONS, build_activation
from annlab.net.critical import backward_factors, calibrate, fill
from annlab.net.inits import INITS
from annlab.net.theory import LayerPrior, critical_gain, critical_gains, predict
from annlab.train.job import run_job
from annlab.train.setup import prepare

HIDDEN = sorted(set(ACTIVATIONS) - {"identity"})


def test_critical_gain_at_the_fixed_point_is_the_classic_one() -> None:
    assert critical_gain("relu") == pytest.approx(math.sqrt(2), abs=1e-3)
    assert critical_gain("tanh") == pytest.approx(1.0, abs=1e-3)
    assert 9 < critical_gain("sigmoid") < 11  # far beyond xavier's 1 (DESIGN: "about 10")


@pytest.mark.parametrize("activation", HIDDEN)
def test_per_layer_gains_make_every_predicted_backward_factor_one(activation: str) -> None:
    for moment in (1.0, 30.0):  # standardised inputs, and raw ones of a larger scale
        gains = critical_gains([(activation, None)] * 12, moment)
        layers = [LayerPrior(g**2, 0.0, activation) for g in gains[:-1]] + [LayerPrior(gains[-1] ** 2, 0.0)]
        assert predict(layers, moment).chi == pytest.approx([1.0] * 12, rel=1e-9)


def plain_net(activation: str, depth: int = 20, width: int = 256) -> tuple[list[nn.Linear], list[nn.Module]]:
    """A plain torch MLP, not annlab's model code: unit-scale weights, zero biases."""
    torch.manual_seed(0)
    linears = [nn.Linear(2 if i == 0 else width, width) for i in range(depth)] + [nn.Linear(width, 2)]
    for linear in linears:
        nn.init.normal_(linear.weight, 0.0, 1 / math.sqrt(linear.in_features))
        nn.init.zeros_(linear.bias)
    return linears, [build_activation(activation) for _ in range(depth)]


# ~3.5 s each: four in the default run (the seed's three classics and one that learns its
# slope), every other activation in the slow one.
QUICK = {"relu", "tanh", "sigmoid", "prelu"}


@pytest.mark.parametrize("activation", [a if a in QUICK else pytest.param(a, marks=pytest.mark.slow) for a in HIDDEN])
def test_calibrated_makes_every_layers_backward_factor_one_on_a_plain_torch_net(activation: str) -> None:
    linears, acts = plain_net(activation)
    x = torch.randn(256, 2, generator=torch.Generator().manual_seed(1))
    gains = calibrate(linears, acts, x, [False] + [True] * 20)
    assert len(gains) == 21 and all(math.isfinite(g) and g > 0 for g in gains)
    fresh = torch.Generator().manual_seed(99)  # readouts the calibration never saw
    factors = backward_factors(linears, acts, x, [torch.randn(256, 2, generator=fresh) for _ in range(16)])
    assert min(factors) > 0.9 and max(factors) < 1.1, (activation, min(factors), max(factors))


@pytest.mark.parametrize("name", ["critical_orthogonal", "calibrated_orthogonal"])
def test_orthogonal_variants_have_orthogonal_rows_times_their_gain(name: str) -> None:
    w = torch.empty(64, 64)
    INITS[name].fill(w, gain=2.5)
    torch.testing.assert_close(w @ w.T, 2.5**2 * torch.eye(64), atol=1e-4, rtol=0)
    assert INITS[name].variance({"gain": 2.5}, 64, 64) == pytest.approx(2.5**2 / 64)
    tall = fill(torch.empty(256, 2), 1.5, orthogonal=True)  # more units than inputs: orthonormal columns
    torch.testing.assert_close(tall.T @ tall, 1.5**2 * 128 * torch.eye(2), atol=1e-3, rtol=0)


def test_a_model_without_hidden_layers_is_refused_clearly(config: Callable[..., RunConfig]) -> None:
    for init in ("critical", "calibrated"):
        with pytest.raises(ConfigError, match=rf"init={init}: a model without hidden layers .* \(depth 0\)"):
            prepare(config(f"init={init}", "model.depth=0", "dataset.n_samples=200"))


def test_a_gain_that_is_not_finite_names_the_layer() -> None:
    linears, acts = plain_net("relu", depth=3, width=8)
    with torch.no_grad():
        linears[1].weight.fill_(-1.0)  # layer 2's z < 0 for every example: relu'(z) = 0 everywhere
    x = torch.rand(32, 2)
    with pytest.raises(ValueError, match=r"layer 3 after layer 2 \(ReLU\): mean phi'\(z\)\^2 is 0"):
        calibrate(linears, acts, x, [False, True, True, True])


def test_the_gains_an_init_chose_are_in_the_record(config: Callable[..., RunConfig], store: str) -> None:
    client = MlflowClient(store)
    for init in ("critical", "calibrated"):
        result = run_job(
            config(f"init={init}", "activation=sigmoid", "model.depth=4", "trainer.epochs=1", "dataset.n_samples=300"),
            uri=store,
        )
        network = pd.read_parquet(client.download_artifacts(result.run_id, "network.parquet"))
        assert network.gain.iloc[0] == pytest.approx(1.0) and (network.gain.iloc[1:] > 3).all(), network.gain
        assert network.sigma_w2.tolist() == pytest.approx((network.gain**2).tolist())
        if init == "critical":
            moment = float(network.input_second_moment.iloc[0])
            assert network.gain.tolist() == pytest.approx(critical_gains([("sigmoid", None)] * 4, moment))


def test_a_calibration_that_fails_on_the_data_ends_that_run_failed_naming_the_layer(
    config: Callable[..., RunConfig], store: str
) -> None:
    """Biases of -100: no example activates layer 1's ReLUs, so no gain can make its backward
    factor 1. The pre-check cannot know (it does not calibrate); the job's run records why."""
    cfg = config("init=calibrated", "init.bias=-100", "model.depth=3", "trainer.epochs=1", "dataset.n_samples=200")
    prepare(cfg)  # what a sweep's pre-check does: passes
    with pytest.raises(ValueError, match=r"init=calibrated: layer 2 after layer 1 \(ReLU\): mean phi'\(z\)\^2 is 0"):
        run_job(cfg, uri=store)
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("annlab").experiment_id])
    assert run.info.status == "FAILED" and "layer 2 after layer 1 (ReLU)" in run.data.tags["annlab.error"]
