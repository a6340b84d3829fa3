"""The probes keep every tensor on the model's device, checked on PyTorch's meta device (no GPU
here), which refuses to mix devices in one op as CUDA does: a constant left on the CPU fails."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from annlab.config import RunConfig
from annlab.net.stacked import StackedMLP
from annlab.record import STATS
from annlab.train import stacked_reductions
from annlab.train.metrics import LOSSES
from annlab.train.probes import Probe
from annlab.train.setup import prepare
from annlab.train.stacked_probe import StackedProbe

META = torch.device("meta")
LOSS = LOSSES["binary_cross_entropy_with_logits"]


@pytest.mark.parametrize("activation", ["tanh", "prelu"])  # tanh: a saturation rule; prelu: learned rows
def test_a_probe_computes_on_the_models_device(config: Callable[..., RunConfig], activation: str) -> None:
    _, model, _ = prepare(config(f"activation={activation}", "model.depth=3", "model.width=8"))
    model = model.to(META)
    x, y = torch.empty(16, 2, device=META), torch.empty(16, 1, device=META)
    probe = Probe(model, x, y, LOSS)
    assert probe.measure().values.device == META
    keep: list = []
    assert probe.measure_step(keep, LOSS(model(x, keep=keep), y), 1.0).values.device == META


def test_a_stacked_probe_computes_on_the_models_device(
    config: Callable[..., RunConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    members = [prepare(config("activation=tanh", "model.depth=3", "model.width=8", f"seed={s}"))[1] for s in (0, 1)]
    members = [m.to(META) for m in members]
    x, y = torch.empty(16, 2, device=META), torch.empty(16, 1, device=META)
    stacked = StackedMLP(members)
    tracer = StackedProbe(stacked, [Probe(m, x, y, LOSS) for m in members])

    # Its float64 check reads a value on the host, which a meta tensor has not: skipped here.
    def no_check(tensors: list[torch.Tensor], alive: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        return stacked_reductions.float32_norms(tensors) if out is None else out

    monkeypatch.setattr(stacked_reductions, "member_norms", no_check)
    keep: list = []
    logits = stacked(torch.empty(2, 16, 2, device=META), keep=keep)
    loss = LOSS(logits, torch.empty(2, 16, 1, device=META), reduction="none").mean((1, 2)).sum()
    alive = torch.arange(2, device=META)
    values, before, _ = tracer.step(keep, loss, 1.0, alive)
    values = tracer.finish(values, before, alive)
    assert values.device == META and values.shape == (2, len(STATS), 4)
