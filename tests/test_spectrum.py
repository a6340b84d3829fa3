"""The Jacobian's singular values against torch.func.jacrev and an SVD, and its free-probability moments."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from annlab.net.activations import build_activation
from annlab.net.critical import fill
from annlab.net.spectrum import moments, predicted, singular_values


def net(activation: str, depth: int, width: int, gain: float, orthogonal: bool, seed: int = 0) -> tuple[list, list]:
    torch.manual_seed(seed)
    linears = [nn.Linear(5 if i == 0 else width, width) for i in range(depth)] + [nn.Linear(width, 2)]
    for linear in linears:
        fill(linear.weight, gain, orthogonal)
    return linears, [build_activation(activation, None) for _ in range(depth)]


@pytest.mark.parametrize("activation", ["tanh", "relu", "prelu"])
def test_singular_values_are_those_of_jacrev_and_an_svd(activation: str) -> None:
    linears, acts = net(activation, 4, 12, 1.3, orthogonal=False)
    x = torch.randn(3, 5, dtype=torch.float64)
    got = singular_values(linears, acts, x)
    hidden = [copy.deepcopy(linear).double() for linear in linears[:-1]]
    acts64 = [copy.deepcopy(act).double() for act in acts]

    def last_from_first(z1: torch.Tensor) -> torch.Tensor:
        z = z1
        for linear, act in zip(hidden[1:], acts64, strict=False):
            z = linear(act(z))
        return z

    for i in range(len(x)):
        z1 = hidden[0](x[i])
        expected = torch.linalg.svdvals(torch.func.jacrev(last_from_first)(z1))
        assert got[i].tolist() == pytest.approx(expected.tolist(), rel=1e-10, abs=1e-12)
    assert got.dtype == torch.float64
    assert all(p.dtype == torch.float32 for a in acts for p in a.parameters())  # the model is untouched


def test_relus_spread_is_l_orthogonal_and_2l_gaussian_at_chi_one() -> None:
    """ReLU at sigma_w^2 = 2: mu_1 = 1/2, mu_2 = 1/2, so each factor adds 1 - s_1 over 2 chi = 1."""
    mu = moments("relu", None, 1.0)
    assert mu == pytest.approx((0.5, 0.5), abs=1e-12)
    for layers in (4, 16, 64):
        chi = [2 * mu[0]] * layers
        assert predicted(chi, [mu] * layers, orthogonal=True) == pytest.approx((1.0, layers))
        assert predicted(chi, [mu] * layers, orthogonal=False) == pytest.approx((1.0, 2 * layers))


def test_a_wide_relu_net_spreads_as_predicted() -> None:
    """Width 400, 8 factors, kaiming gain: the measured variance of s^2 over 4 examples within 30%
    of 2L (Gaussian) and L (orthogonal), its mean within 15% of 1."""
    for orthogonal, want in ((False, 16.0), (True, 8.0)):
        linears, acts = net("relu", 9, 400, math.sqrt(2), orthogonal, seed=3)
        s2 = singular_values(linears, acts, torch.randn(4, 5, dtype=torch.float64) * 3).square()
        assert float(s2.mean()) == pytest.approx(1.0, rel=0.15)
        assert float(s2.var(unbiased=False)) == pytest.approx(want, rel=0.3)


def test_a_run_records_the_spectrum_when_asked_and_its_identity_does_not_change(config, store: str) -> None:
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from annlab.record import SPECTRUM_TABLE
    from annlab.train.identity import config_hash
    from annlab.train.job import run_job

    asked = config("activation=tanh", "init=orthogonal", "model.depth=4", "model.width=16", "probe.spectrum=3")
    assert config_hash(asked) == config_hash(
        config("activation=tanh", "init=orthogonal", "model.depth=4", "model.width=16")
    )
    result = run_job(asked.model_copy(update={"trainer": asked.trainer.model_copy(update={"epochs": 1})}), uri=store)
    client = MlflowClient(store)
    table = pd.read_parquet(client.download_artifacts(result.run_id, SPECTRUM_TABLE))
    assert list(table.example.unique()) == [0, 1, 2] and len(table) == 3 * 16 and (table.step == 0).all()
    assert (table.groupby("example").singular_value.diff().dropna() <= 0).all()  # descending per example
    # orthogonal weights (s_1 = 0): the predicted variance is mean^2 * sum(mu_2 / mu_1^2 - 1) over 3 factors
    assert table.predicted_mean.iloc[0] > 0 and table.predicted_variance.iloc[0] >= 0
    plain = run_job(config("activation=tanh", "trainer.epochs=1", "model.depth=2"), uri=store)
    assert SPECTRUM_TABLE not in {a.path for a in client.list_artifacts(plain.run_id)}  # off by default
