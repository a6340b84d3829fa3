"""SGD and Adam over stacked parameters, each member with its own learning rate, momentum and decay.

torch's optimisers take one learning rate per parameter group, and a stacked tensor is one
parameter holding every member: the same updates (torch's single-tensor formulas, dampening 0,
no Nesterov, Adam's default betas and eps) are written here with the hyperparameters as [N]
tensors broadcast over each member's slice. A member whose lr is set to 0 (stopped: diverged or
failed) no longer moves.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from annlab.config import OptimizerConfig

BETAS = (0.9, 0.999)
EPS = 1e-8


class StackedOptimizer:
    """One optimiser kind over stacked leaves [N, ...], per-member hyperparameters."""

    def __init__(self, params: Sequence[Tensor], configs: Sequence[OptimizerConfig]):
        kinds = {c.name for c in configs}
        if len(kinds) != 1:
            raise ValueError(f"one optimiser kind a group, not {sorted(kinds)}")
        self.kind = kinds.pop()
        if self.kind not in ("sgd", "adam"):
            raise ValueError(f"optimizer={self.kind} has no stacked form")
        self.params = list(params)
        device = self.params[0].device
        self.lr = torch.tensor([c.lr for c in configs], device=device)
        self.momentum = torch.tensor([c.momentum for c in configs], device=device)
        self.decay = torch.tensor([c.weight_decay for c in configs], device=device)
        # Terms that are 0 for every member are skipped (plain SGD: no buffer, no decay).
        self.uses_momentum = bool(self.momentum.any())
        self.uses_decay = bool(self.decay.any())
        self.state: list[list[Tensor]] = [
            [torch.zeros_like(p) for _ in range(2 if self.kind == "adam" else int(self.uses_momentum))]
            for p in self.params
        ]
        # Each hyperparameter as a view broadcast over every parameter's member slices, made once.
        self.views = [
            tuple(t.view(-1, *([1] * (p.dim() - 1))) for t in (self.lr, self.momentum, self.decay)) for p in self.params
        ]
        self.steps = 0

    def stop(self, member: int) -> None:
        """The member no longer moves (its lr is 0: the views above see it)."""
        self.lr[member] = 0.0

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        for p, state, (lr, momentum, decay) in zip(self.params, self.state, self.views, strict=True):
            if p.grad is None:
                continue
            grad = p.grad + decay * p if self.uses_decay else p.grad
            if self.kind == "sgd":
                if self.uses_momentum:
                    grad = state[0].mul_(momentum).add_(grad)  # the first step: buf = grad
                p.sub_(lr * grad)
                continue
            m, v = state
            b1, b2 = BETAS
            m.lerp_(grad, 1 - b1)
            v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            correction1, correction2 = 1 - b1**self.steps, 1 - b2**self.steps
            denom = (v.sqrt() / correction2**0.5).add_(EPS)
            p.sub_((lr / correction1) * m / denom)
