"""N same-shape MLPs as one: each layer's weights stacked [N, out, in], one batched product a layer."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from annlab.net.model import MLP


class StackedMLP(nn.Module):
    """The members' layers stacked into one set of leaves; every member's own Linear weight and
    bias become views of its slice (same storage), so that what the stacked optimiser changes in
    place each member's model, its probe and its evaluation see at once, and a member's
    parameters are drawn exactly as a model of its own draws them (they are built that way, then
    stacked). The activations must be the members' shared, parameter-free ones."""

    def __init__(self, members: Sequence[MLP]):
        super().__init__()
        first = members[0]
        if any(list(act.parameters()) for act in first.acts):
            raise ValueError("an activation with its own parameters trains as a group of one")
        self.acts = first.acts
        self.output_activation = first.output_activation
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for index in range(len(first.layers())):
            layers = [member.layers()[index] for member in members]
            weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))
            bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]))
            for i, layer in enumerate(layers):
                layer.weight, layer.bias = nn.Parameter(weight.data[i]), nn.Parameter(bias.data[i])
            self.weights.append(weight)
            self.biases.append(bias)

    def forward(self, x: Tensor, keep: list[tuple[Tensor, Tensor, Tensor]] | None = None) -> Tensor:
        """The logits [N, batch, out] of the members' inputs x [N, batch, in]; with `keep`,
        append (input, z, a) of every layer to it, [N, batch, units] each, as MLP.forward does."""
        hidden = len(self.acts)
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))
            a = self.acts[index](z) if index < hidden else None
            if keep is not None:
                keep.append((x, z, a if a is not None else self.output_activation(z)))
            x = a if a is not None else z
        return x
