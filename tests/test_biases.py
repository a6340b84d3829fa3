"""Biases as the mean-field papers draw them (N(m, sigma_b^2)), a constant bias read as a mean, and
the critical line at a chosen q*."""

from __future__ import annotations

import math

import pytest
import torch

from annlab.config import ActivationConfig, ConfigError, InitConfig, LayerConfig, init, parse_config
from annlab.net.correlation import predicted_example_cosine
from annlab.net.model import MLP
from annlab.net.theory import LayerPrior, critical_line, moments, predict
from annlab.train.identity import identity


def _net(activation: str, hidden_init: InitConfig, depth: int, width: int, features: int = 32) -> MLP:
    hidden = [LayerConfig(width=width, activation=ActivationConfig(name=activation), init=hidden_init)] * depth
    return MLP(features, hidden, 2, "multiclass", init("xavier_normal"), 1.0)


def _measured(model: MLP, x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per hidden layer: the pre-activations' variance over units (mean over examples) and their
    mean pairwise cosine over examples."""
    keep: list = []
    with torch.no_grad():
        model(x, keep)
    q, c = [], []
    for _, z, _ in keep[:-1]:
        u = torch.nn.functional.normalize(z.double(), dim=1)
        n = len(z)
        q.append(float(z.var(dim=1).mean()))
        c.append(float(((u @ u.T).sum() - n) / (n * (n - 1))))
    return q, c


def test_bias_std_draws_normal_biases_around_the_constant() -> None:
    torch.manual_seed(0)
    model = _net("tanh", InitConfig(name="xavier_normal", bias=0.3, bias_std=0.2), depth=2, width=4000)
    assert float(model.linear2.bias.detach().mean()) == pytest.approx(0.3, abs=0.01)
    assert float(model.linear2.bias.detach().std()) == pytest.approx(0.2, rel=0.05)
    assert model.bias_moments[1] == pytest.approx((0.3, 0.04))


def test_bias_std_is_refused_where_the_bias_is_drawn_otherwise() -> None:
    with pytest.raises(ValueError, match="bias=default draws it already"):
        InitConfig(name="xavier", bias="default", bias_std=0.1)
    with pytest.raises(ValueError, match="solves sigma_b"):
        InitConfig(name="critical_line", bias_std=0.1)


def test_bias_std_at_zero_keeps_old_identities(composed) -> None:
    plain = identity(parse_config(composed(["init=xavier"])))
    assert "bias_std" not in plain["init"]
    assert identity(parse_config(composed(["init=xavier", "init.bias_std=0.1"])))["init"]["bias_std"] == 0.1


def test_a_constant_bias_is_a_mean_not_a_variance() -> None:
    """tanh with bias 0.5, width 1024: the length map with the mean m = 0.5 gives each layer's
    variance over units and the examples' cosine; counting 0.5 as variance 0.25 (as before) misses
    layer 2's cosine by 0.025."""
    torch.manual_seed(0)
    x = torch.randn(64, 32)
    model = _net("tanh", InitConfig(name="xavier_normal", params={"gain": 1.5}, bias=0.5), depth=4, width=1024)
    sigma_w2 = [1.5**2 * 2 * lin.in_features / (lin.in_features + lin.out_features) for lin in model.linears]
    priors = [LayerPrior(s, 0.0, "tanh", {}, 0.5) for s in sigma_w2] + [LayerPrior(1.0, 0.0)]
    moment = float(x.pow(2).mean())
    q, c = _measured(model, x)
    assert q == pytest.approx(predict(priors, moment).q, rel=0.05)
    assert c == pytest.approx(predicted_example_cosine(priors, moment, x)[:-1], abs=0.01)
    as_variance = [LayerPrior(p.sigma_w2, p.bias_mean**2, p.activation, p.activation_params) for p in priors]
    assert c[1] - predicted_example_cosine(as_variance, moment, x)[1] > 0.02


@pytest.mark.parametrize(("q_star", "sigma_w2", "sigma_b2"), [(1.0, 2.1533, 0.15096), (1 / 64, 1.03056, 4.651e-6)])
def test_tanhs_critical_line(q_star: float, sigma_w2: float, sigma_b2: float) -> None:
    """chi = 1 and q* a fixed point of the length map; the first layer brings the input to q*."""
    solved = critical_line([("tanh", None)] * 3, q_star, input_second_moment=2.0)
    assert solved[1:] == [pytest.approx((sigma_w2, sigma_b2), rel=1e-3)] * 3
    assert solved[0] == pytest.approx(((q_star - sigma_b2) / 2.0, sigma_b2), rel=1e-3)
    square, slope = moments("tanh", None, q_star)
    assert solved[1][0] * slope == pytest.approx(1.0, rel=1e-9)
    assert solved[1][0] * square + solved[1][1] == pytest.approx(q_star, rel=1e-9)


def test_relus_critical_line_is_kaiming_without_bias() -> None:
    assert critical_line([("relu", None)] * 2, 0.3, 1.0)[1:] == [pytest.approx((2.0, 0.0), abs=1e-9)] * 2


def test_no_critical_line_where_the_mean_alone_exceeds_q_star() -> None:
    with pytest.raises(ValueError, match=r"layer 2 after layer 1 \(sigmoid\): no critical line at q\*=0.015625"):
        critical_line([("sigmoid", None)], 1 / 64, 1.0)


@pytest.mark.parametrize("name", ["critical_line", "critical_line_orthogonal"])
def test_a_net_on_its_critical_line_keeps_q_star(name: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 32)
    x = x / x.pow(2).mean().sqrt()
    model = _net("tanh", InitConfig(name=name, params={"q_star": 0.25}), depth=6, width=1024)
    q, _ = _measured(model, x)
    assert q == pytest.approx([0.25] * 6, rel=0.06)
    assert model.bias_moments[2][1] == pytest.approx(critical_line([("tanh", None)], 0.25, 1.0)[1][1])
    assert float(model.linear3.bias.detach().std()) == pytest.approx(math.sqrt(model.bias_moments[2][1]), rel=0.08)
    if name.endswith("orthogonal"):
        w = model.linear3.weight.detach().double()
        gram = w @ w.T
        assert torch.allclose(gram, gram[0, 0] * torch.eye(len(w), dtype=torch.float64), atol=1e-4 * float(gram[0, 0]))


def test_one_net_one_critical_line() -> None:
    layers = [
        LayerConfig(
            width=8,
            activation=ActivationConfig(name="tanh"),
            init=InitConfig(name="critical_line", params={"q_star": q}),
        )
        for q in (0.5, 1.0)
    ]
    with pytest.raises(ValueError, match="one net, one critical line"):
        MLP(4, layers, 2, "multiclass", init("xavier_normal"))


def test_critical_line_in_a_config(composed) -> None:
    cfg = parse_config(composed(["activation=tanh", "init=critical_line", "init.params.q_star=0.015625"]))
    assert cfg.init is not None and cfg.init.params == {"q_star": 0.015625}
    with pytest.raises(ConfigError, match="bias_std"):
        parse_config(composed(["init=critical_line", "init.bias_std=0.1"]))
