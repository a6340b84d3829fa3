"""The model: the seed's example network and its summary table, depth 0, uniform MLPs."""

from __future__ import annotations

from collections.abc import Callable

import torch

from annlab.config import RunConfig
from annlab.job import prepare
from annlab.summary import param_summary


def test_seed_example_summary_matches_the_seeds_table(config: Callable[..., RunConfig]) -> None:
    _, model, _ = prepare(config("model=seed_example"))
    summary = param_summary(model, (5, 3))
    assert [(r.layer, r.output_shape, r.params) for r in summary.rows] == [
        ("Linear-1", [5, 3], 12),
        ("Linear-2", [5, 2], 8),
        ("Linear-3", [5, 2], 6),
    ]
    assert (summary.total, summary.trainable) == (26, 26)
    table = summary.table()
    assert "Total params: 26" in table and "Trainable params: 26" in table and "Non-trainable params: 0" in table
    # Hidden biases start at zero, as the seed's nn.init.zeros_ calls; the output keeps PyTorch's.
    assert torch.equal(model.linears[0].bias, torch.zeros(3)) and torch.equal(model.linears[1].bias, torch.zeros(2))
    assert model.out.bias.abs().sum() > 0


def test_seed_example_forward_gives_softmax_rows(config: Callable[..., RunConfig]) -> None:
    _, model, _ = prepare(config("model=seed_example"))
    out = model.predict(torch.randn(5, 3))  # the seed's my_data = torch.randn(5, 3)
    assert out.shape == (5, 2)
    torch.testing.assert_close(out.sum(-1), torch.ones(5))
    names = [name for name, _ in model.named_parameters()]
    assert names == [
        "linears.0.weight",
        "linears.0.bias",
        "linears.1.weight",
        "linears.1.bias",
        "out.weight",
        "out.bias",
    ]


def test_depth_zero_is_a_linear_model(config: Callable[..., RunConfig]) -> None:
    _, model, _ = prepare(config("model.depth=0", "dataset=iris"))
    assert model.depth == 0 and len(model.layers()) == 1
    assert param_summary(model, (5, 4)).total == 4 * 3 + 3


def test_mlp_layers_count_and_output_follows_the_task(config: Callable[..., RunConfig]) -> None:
    for dataset, outputs in (("moons", 1), ("digits", 10), ("diabetes", 1)):
        data, model, _ = prepare(
            config("model.depth=4", "model.width=16", f"dataset={dataset}", "dataset.n_samples=300")
        )
        assert model.depth == 4 and model.out.out_features == outputs
        assert [layer.out_features for layer in model.linears] == [16] * 4
        assert model.linears[0].in_features == data.n_features


def test_prelu_owns_a_learnable_parameter_per_layer(config: Callable[..., RunConfig]) -> None:
    _, model, _ = prepare(config("activation=prelu", "model.depth=2"))
    rows = param_summary(model, (5, 2)).rows
    assert [r.layer for r in rows] == ["Linear-1", "PReLU-1", "Linear-2", "PReLU-2", "Linear-3"]
