"""The model: the seed's example network and its summary table, depth 0, uniform MLPs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from annlab.config import RunConfig
from annlab.train.setup import prepare
from annlab.train.summary import param_summary


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
    assert torch.equal(model.linear1.bias, torch.zeros(3)) and torch.equal(model.linear2.bias, torch.zeros(2))
    assert model.out.bias.abs().sum() > 0


def test_the_summary_is_the_seeds_torchsummary_block_to_the_character(config: Callable[..., RunConfig]) -> None:
    """Golden file: the block the tutorial prints for its Model (tests/golden, copied from ../shared/seed)."""
    _, model, _ = prepare(config("model=tutorial_example"))
    golden = (Path(__file__).parent / "golden" / "tutorial_summary.txt").read_text()
    assert param_summary(model, (5, 3)).table() + "\n" == golden


def test_seed_example_forward_gives_softmax_rows(config: Callable[..., RunConfig]) -> None:
    _, model, _ = prepare(config("model=seed_example"))
    out = model.predict(torch.randn(5, 3))  # the seed's my_data = torch.randn(5, 3)
    assert out.shape == (5, 2)
    torch.testing.assert_close(out.sum(-1), torch.ones(5))
    names = [name for name, _ in model.named_parameters()]
    assert names == ["linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias", "out.weight", "out.bias"]


class TutorialModel(nn.Module):
    """The tutorial's Model, as written there (../shared/seed), to compare annlab's against."""

    def __init__(self) -> None:
        super().__init__()
        self.linear1 = nn.Linear(3, 3)
        nn.init.xavier_normal_(self.linear1.weight)
        nn.init.zeros_(self.linear1.bias)
        self.linear2 = nn.Linear(3, 2)
        nn.init.kaiming_normal_(self.linear2.weight, nonlinearity="relu")
        nn.init.zeros_(self.linear2.bias)
        self.out = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.out(torch.relu(self.linear2(torch.sigmoid(self.linear1(x))))), dim=-1)


def test_tutorial_example_is_the_tutorials_model_parameter_for_parameter(config: Callable[..., RunConfig]) -> None:
    """Under one seed, annlab's network and the tutorial's own class hold the same named parameters
    and give the same outputs."""
    for seed in (0, 7):
        _, model, _ = prepare(config("model=tutorial_example", f"seed={seed}"))
        torch.manual_seed(seed)
        theirs = TutorialModel()
        ours = dict(model.named_parameters())
        assert list(ours) == [name for name, _ in theirs.named_parameters()]
        for name, parameter in theirs.named_parameters():
            assert torch.equal(ours[name], parameter), name
        x = torch.randn(5, 3)
        torch.testing.assert_close(model.predict(x), theirs(x), rtol=0, atol=0)


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


def test_a_single_job_prints_the_summary_and_the_named_parameters(tmp_path: Path, cli: Callable) -> None:
    """As the tutorial's train() does: the torchsummary block, then `name parameter` per line."""
    proc = cli(["model=tutorial_example", "trainer.epochs=1"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    golden = (Path(__file__).parent / "golden" / "tutorial_summary.txt").read_text()
    assert golden in proc.stdout
    for name in ("linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias", "out.weight", "out.bias"):
        assert f"\n{name} Parameter containing:\ntensor(" in proc.stdout
    assert proc.stdout.index("Estimated Total Size") < proc.stdout.index("linear1.weight Parameter containing")
