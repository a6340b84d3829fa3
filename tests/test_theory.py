"""The mean-field theory against the reference numbers and against a Monte Carlo network."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from annlab.net.inits import init_linear, weight_variance
from annlab.net.theory import LayerPrior, gaussian_expectation, network_priors, nodes, predict


def uniform_net(activation: str, sigma_w2: float, depth: int = 20) -> list[LayerPrior]:
    return [LayerPrior(sigma_w2, 0.0, activation)] * depth + [LayerPrior(sigma_w2, 0.0)]


@pytest.mark.parametrize(
    ("activation", "sigma_w2", "per_layer"),
    [("sigmoid", 1.0, 0.24), ("relu", 2.0, 1.0), ("relu", 1.0, 1 / math.sqrt(2))],
    ids=["sigmoid+xavier", "relu+kaiming", "relu+xavier"],
)
def test_reference_values(activation: str, sigma_w2: float, per_layer: float) -> None:
    ratios = predict(uniform_net(activation, sigma_w2)).per_layer_ratio
    assert ratios[-1] == pytest.approx(per_layer, abs=0.005)


def test_quadrature_integrates_gaussian_moments() -> None:
    z = nodes()
    assert gaussian_expectation(z**0) == pytest.approx(1.0)
    assert gaussian_expectation(z**2) == pytest.approx(1.0)
    assert gaussian_expectation(z**4) == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("init", "params", "expected"),
    [
        ("xavier_normal", {}, 2 / (300 + 200)),
        ("kaiming_normal", {"nonlinearity": "relu"}, 2 / 300),
        ("lecun_normal", {}, 1 / 300),
        ("default", {}, 1 / (3 * 300)),
        ("normal", {"std": 0.1}, 0.01),
        ("orthogonal", {}, 1 / 300),
    ],
)
def test_weight_variance_matches_the_inits(init: str, params: dict, expected: float) -> None:
    assert weight_variance(init, params, 300, 200) == pytest.approx(expected)
    torch.manual_seed(0)
    layer = nn.Linear(300, 200)
    init_linear(layer, init, params)
    assert layer.weight.var().item() == pytest.approx(expected, rel=0.03)


def test_symmetric_inits_have_no_mean_field() -> None:
    assert math.isnan(weight_variance("zeros", {}, 10, 10))
    assert math.isnan(weight_variance("uniform", {"a": 0.0, "b": 1.0}, 10, 10))


@pytest.mark.parametrize(
    ("activation", "init", "params"),
    [
        ("sigmoid", "xavier_normal", {}),
        ("tanh", "xavier_normal", {}),
        ("relu", "kaiming_normal", {"nonlinearity": "relu"}),
        ("relu", "xavier_normal", {}),
        ("tanh", "default", {}),
    ],
)
def test_prediction_matches_a_monte_carlo_network(activation: str, init: str, params: dict) -> None:
    """Wide random nets: the measured log10 ||dL/dz_1|| / ||dL/dz_out|| is close to the prediction."""
    width, depth, batch = 512, 8, 256
    torch.manual_seed(0)
    layers = [nn.Linear(width, width) for _ in range(depth + 1)]
    for layer in layers:
        init_linear(layer, init, params)
    act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[activation]
    x = torch.randn(batch, width)
    zs = []
    h = x
    for layer in layers[:-1]:
        z = layer(h)
        zs.append(z)
        h = act(z)
    out = layers[-1](h)
    zs.append(out)
    grads = torch.autograd.grad((out * torch.randn_like(out)).sum(), zs)
    measured = math.log10(grads[0].norm().item() / grads[-1].norm().item())
    var = weight_variance(init, params, width, width)
    priors = [LayerPrior(var * width, 0.0, activation)] * depth + [LayerPrior(var * width, 0.0)]
    assert measured == pytest.approx(predict(priors).log10_first_over_last, abs=0.15)


def test_the_recorded_network_carries_the_real_input_scale(config, store: str) -> None:
    """dataset.standardize=false: the theory starts its length map at the raw features' second
    moment, as recorded in network.parquet, not at 1."""
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from annlab.train.job import run_job

    result = run_job(
        config("dataset=wine", "dataset.standardize=false", "activation=tanh", "init=xavier", "trainer.epochs=1"),
        uri=store,
    )
    path = MlflowClient(store).download_artifacts(result.run_id, "network.parquet")
    layers, moment = network_priors(pd.read_parquet(path))
    assert moment > 1000  # wine's proline is in the hundreds
    prediction = predict(layers, moment)
    assert prediction.q[0] == pytest.approx(layers[0].sigma_w2 * moment + layers[0].sigma_b2)
    assert prediction.q[0] > 100 * predict(layers, 1.0).q[0]


def test_an_activation_with_a_parameter_per_unit_is_seen_as_its_shared_start() -> None:
    """PReLU with num_parameters=16 (slopes start equal) gives the theory PReLU's own numbers, on
    any shape of input (fixed_point passes a grid of q x nodes); it raised before."""
    from annlab.net.theory import critical_gains, phi_and_derivative

    x = np.linspace(-3, 3, 12).reshape(3, 4)
    per_unit = phi_and_derivative("prelu", {"num_parameters": 16}, x)
    shared = phi_and_derivative("prelu", None, x)
    assert np.array_equal(per_unit[0], shared[0]) and np.array_equal(per_unit[1], shared[1])
    assert per_unit[1][0, 0] == pytest.approx(0.25) and per_unit[1][-1, -1] == 1.0
    layers = [("prelu", {"num_parameters": 16})] * 3
    assert critical_gains(layers, 1.0) == pytest.approx(critical_gains([("prelu", None)] * 3, 1.0), rel=1e-12)
