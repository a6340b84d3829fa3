"""The model's parameter summary, in the seed's table layout, from torchinfo's layer list."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torchinfo import summary


@dataclass(frozen=True)
class SummaryRow:
    layer: str  # e.g. "Linear-1", numbered per class as in the seed's torchsummary table
    output_shape: list[int]
    params: int


@dataclass(frozen=True)
class ParamSummary:
    rows: list[SummaryRow]
    total: int
    trainable: int

    def table(self) -> str:
        """The summary as text, laid out like the seed's torchsummary table."""
        rule, bar = "-" * 64, "=" * 64
        lines = [rule, f"{'Layer (type)':>20}{'Output Shape':>25}{'Param #':>15}", bar]
        lines += [f"{r.layer:>20}{r.output_shape!s:>25}{r.params:>15,}" for r in self.rows]
        lines += [
            bar,
            f"Total params: {self.total:,}",
            f"Trainable params: {self.trainable:,}",
            f"Non-trainable params: {self.total - self.trainable:,}",
            rule,
        ]
        return "\n".join(lines)


def param_summary(model: nn.Module, input_size: tuple[int, ...], device: str = "cpu") -> ParamSummary:
    """Run torchinfo on `model` for one input of `input_size`; rows are the modules that hold
    parameters, numbered per class in call order (Linear-1, Linear-2, PReLU-1, ...)."""
    stats = summary(model, input_size=input_size, verbose=0, device=device)
    counts: dict[str, int] = {}
    rows = []
    for info in stats.summary_list:
        own = sum(p.numel() for p in info.module.parameters(recurse=False))
        if not own:
            continue
        counts[info.class_name] = counts.get(info.class_name, 0) + 1
        rows.append(SummaryRow(f"{info.class_name}-{counts[info.class_name]}", list(info.output_size), own))
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return ParamSummary(rows, total, trainable)
