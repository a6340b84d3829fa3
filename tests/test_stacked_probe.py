"""The stacked probe measures what each member's own Probe measures on the same batch: every
saturation rule (a band about 0, a band about 1/2, a user's rule on z, none) and dead units."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from annlab.config import RunConfig
from annlab.net.stacked import StackedMLP
from annlab.record import STATS
from annlab.train.fused import FusedReductions
from annlab.train.metrics import LOSSES
from annlab.train.probes import Probe
from annlab.train.setup import prepare
from annlab.train.stacked_probe import StackedProbe
from annlab.train.stacked_reductions import StackShape, TensorReductions

LOSS = LOSSES["binary_cross_entropy_with_logits"]
BUMP = "activation._target_=userparts.acts.bump"  # a user's bounded activation: a rule on z
COUNTED = [STATS.index("saturated_frac"), STATS.index("dead_frac")]


@pytest.mark.parametrize(
    ("activation", "fused"),
    [
        ("activation=tanh", True),
        ("activation=sigmoid", True),
        ("activation=relu", True),
        ("activation=tanh", False),
        ("activation=sigmoid", False),
        (f"activation=custom {BUMP}", False),  # a rule on z: tensor ops
    ],
)
def test_the_stacked_probe_measures_what_each_members_probe_measures(
    config: Callable[..., RunConfig], activation: str, fused: bool
) -> None:
    """Two members, the second of whose layer-2 units never fires (weights and bias 0: f(0) = 0 but for sigmoid):
    every stat of each member, update_ratio after an SGD step included, within 1e-5 relative or 1e-7 absolute of
    its Probe's, counts exactly; from the compiled passes (fused.py, on the CPU) and from the tensor ops a GPU runs."""
    models = [
        prepare(config(*activation.split(), "model.depth=4", "model.width=16", "init=xavier", f"seed={s}"))[1]
        for s in range(2)
    ]
    with torch.no_grad():
        models[1].layers()[1].weight[0] = 0.0
        models[1].layers()[1].bias[0] = 0.0
    gen = torch.Generator().manual_seed(0)
    x, y = 3 * torch.randn(2, 64, 2, generator=gen), torch.randint(0, 2, (2, 64, 1), generator=gen).float()
    stacked = StackedMLP(models)
    probes = [Probe(m, x[i], y[i], LOSS) for i, m in enumerate(models)]
    tracer = StackedProbe(stacked, probes)
    assert isinstance(tracer.reductions, FusedReductions) == (activation != f"activation=custom {BUMP}")
    if not fused:
        tracer.reductions = TensorReductions(tracer.shape)
    keep: list = []
    loss = LOSS(stacked(x, keep=keep), y, reduction="none").mean((1, 2)).sum()
    alive = torch.arange(2)
    values, before, _ = tracer.step(keep, loss, 1.0, alive)
    pending = []
    for i, model in enumerate(models):
        mine: list = []
        pending.append(probes[i].measure_step(mine, LOSS(model(x[i], keep=mine), y[i]), 1.0))
    with torch.no_grad():
        for param in tracer.params:  # the members' models are views of these
            param -= 0.1 * param.grad
    values = tracer.finish(values, before, alive)
    for i in range(2):
        alone = probes[i].finish(pending[i])
        torch.testing.assert_close(values[i], alone, rtol=1e-5, atol=1e-7)
        assert torch.equal(values[i, COUNTED], alone[COUNTED])
    assert (values[:, STATS.index("update_ratio")] > 0).all()
    dead = values[:, STATS.index("dead_frac"), 1]
    assert dead.tolist() == ([0.0, 0.0] if activation.endswith("sigmoid") else [0.0, 1 / 16])
    saturated = values[:, STATS.index("saturated_frac"), :-1]
    assert (saturated > 0).any() == (activation != "activation=relu")  # inputs of scale 3 reach every band


def test_the_compiled_passes_keep_a_small_spread_far_from_zero_and_a_zero_row() -> None:
    """A sigmoid-like a (mean 1/2, spread 1e-4: float32 raw squares would cancel), an example whose z is 0
    and a unit whose a is 0 throughout: the compiled passes give the tensor ops' stats, and the
    spread within 1e-6 of float64's."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(2, 64, 16, generator=gen)
    z[1, 5] = 0.0  # an example with no signal: it adds nothing to the example cosine
    a = 0.5 + 1e-4 * torch.randn(2, 64, 16, generator=gen)
    a[0, :, 3] = 0.0  # a dead unit
    shape = StackShape(2, torch.tensor([16.0]), [(16, 8)], [(0.5, 0.49995)])
    keep = [(torch.empty(0), z, a)]
    fused, tensor_ops = FusedReductions(shape).layers(keep, 64), TensorReductions(shape).layers(keep, 64)
    torch.testing.assert_close(fused, tensor_ops, rtol=1e-5, atol=1e-7)
    assert fused[4].tolist() == fused[5].tolist() == [[1 / 16], [0.0]]  # the dead unit: saturated (a = 0) and dead
    torch.testing.assert_close(fused[3, 1], a[1].double().std().float().reshape(1), rtol=1e-6, atol=0)
