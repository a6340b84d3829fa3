"""The model's parameter summary, in the seed's torchsummary layout, from torchinfo's layer list."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torchinfo import summary

MB = 1024**2  # torchsummary's megabytes (the seed's table), not torchinfo's 1e6


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
    input_bytes: int = 0
    pass_bytes: int = 0  # forward and backward pass: every layer's output, twice
    param_bytes: int = 0

    def table(self) -> str:
        """The summary as text, laid out like the seed's torchsummary block (sizes in MB)."""
        rule, bar = "-" * 64, "=" * 64
        row = "{:>20}  {:>25} {:>15}"  # torchsummary's own row format
        lines = [rule, row.format("Layer (type)", "Output Shape", "Param #"), bar]
        lines += [row.format(r.layer, str(r.output_shape), f"{r.params:,}") for r in self.rows]
        total = self.input_bytes + self.pass_bytes + self.param_bytes
        lines += [
            bar,
            f"Total params: {self.total:,}",
            f"Trainable params: {self.trainable:,}",
            f"Non-trainable params: {self.total - self.trainable:,}",
            rule,
            f"Input size (MB): {self.input_bytes / MB:.2f}",
            f"Forward/backward pass size (MB): {self.pass_bytes / MB:.2f}",
            f"Params size (MB): {self.param_bytes / MB:.2f}",
            f"Estimated Total Size (MB): {total / MB:.2f}",
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
    return ParamSummary(rows, total, trainable, stats.total_input, stats.total_output_bytes, stats.total_param_bytes)


def named_parameters_text(model: nn.Module) -> str:
    """`name parameter` per line, as the seed's train() prints `model.named_parameters()`."""
    return "\n".join(f"{name} {parameter}" for name, parameter in model.named_parameters())
