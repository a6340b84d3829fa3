"""The stacked probe measures what each member's own Probe measures on the same batch: every
saturation rule (a band about 0, a band about 1/2, a user's rule on z, none) and dead units."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from annlab.config import RunConfig
from annlab.net.stacked import StackedMLP
from annlab.record import STATS
from annlab.train.metrics import LOSSES
from annlab.train.probes import Probe
from annlab.train.setup import prepare
from annlab.train.stacked_probe import StackedProbe

LOSS = LOSSES["binary_cross_entropy_with_logits"]
BUMP = "activation._target_=userparts.acts.bump"  # a user's bounded activation: a rule on z
COUNTED = [STATS.index("saturated_frac"), STATS.index("dead_frac")]


@pytest.mark.parametrize(
    "activation",
    ["activation=tanh", "activation=sigmoid", "activation=relu", f"activation=custom {BUMP}"],
)
def test_the_stacked_probe_measures_what_each_members_probe_measures(
    config: Callable[..., RunConfig], activation: str
) -> None:
    """Three members, one of whose layer-2 units never fires (weights and bias 0: f(0) = 0 but for sigmoid): every stat
    of each member within 1e-5 relative or 1e-7 absolute of its Probe's, counts exactly."""
    models = [
        prepare(config(*activation.split(), "model.depth=4", "model.width=16", "init=xavier", f"seed={s}"))[1]
        for s in range(3)
    ]
    with torch.no_grad():
        models[1].layers()[1].weight[0] = 0.0
        models[1].layers()[1].bias[0] = 0.0
    gen = torch.Generator().manual_seed(0)
    x, y = 3 * torch.randn(3, 64, 2, generator=gen), torch.randint(0, 2, (3, 64, 1), generator=gen).float()
    stacked = StackedMLP(models)
    probes = [Probe(m, x[i], y[i], LOSS) for i, m in enumerate(models)]
    tracer = StackedProbe(stacked, probes)
    keep: list = []
    loss = LOSS(stacked(x, keep=keep), y, reduction="none").mean((1, 2)).sum()
    values, _, _ = tracer.step(keep, loss, 1.0, torch.arange(3))
    for i, model in enumerate(models):
        mine: list = []
        alone = probes[i].measure_step(mine, LOSS(model(x[i], keep=mine), y[i]), 1.0).values
        torch.testing.assert_close(values[i], alone, rtol=1e-5, atol=1e-7)
        assert torch.equal(values[i, COUNTED], alone[COUNTED])
    dead = values[:, STATS.index("dead_frac"), 1]
    assert dead.tolist() == ([0.0, 0.0, 0.0] if activation.endswith("sigmoid") else [0.0, 1 / 16, 0.0])
    saturated = values[:, STATS.index("saturated_frac"), :-1]
    assert (saturated > 0).any() == (activation != "activation=relu")  # inputs of scale 3 reach every band
