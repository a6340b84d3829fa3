"""Which jobs of a sweep train together: the same shapes, any seed, init, bias, learning rate or momentum."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from annlab.config import RunConfig

# What a member of a group keeps its own: everything else must be equal for jobs to share
# batched operations. Tracking, progress and resume are each member's own too (its own run).
OWN = ("seed", "init", "tracking", "progress", "resume")
OWN_OPTIMIZER = ("lr", "momentum", "weight_decay")


def group_key(cfg: RunConfig) -> str:
    """Jobs with the same key can train as one group; a job that cannot be grouped (an
    activation with its own parameters) gets a key of its own (its config hash), so it trains
    as a group of one."""
    from annlab.net.activations import build_activation
    from annlab.train.identity import config_hash

    activations = {(layer.activation.name, json.dumps(layer.activation.params)) for layer in cfg.hidden_layers}
    learnable = any(list(build_activation(name, json.loads(params)).parameters()) for name, params in activations)
    if learnable:
        return "alone:" + config_hash(cfg) + f":{cfg.seed}"
    shape: dict[str, Any] = cfg.model_dump(mode="json", by_alias=True, exclude=set(OWN))
    for key in OWN_OPTIMIZER:
        shape["optimizer"].pop(key, None)
    model = shape["model"]
    model.pop("output_init", None)
    for layer in model.get("layers") or ():
        layer.pop("init", None)
    return json.dumps(shape, sort_keys=True)


def groups(cfgs: Sequence[RunConfig], size: int) -> list[list[int]]:
    """The jobs' indices in groups of at most `size`, grouped by `group_key`, in the order the
    first job of each key comes in the sweep."""
    by_key: dict[str, list[int]] = {}
    for index, cfg in enumerate(cfgs):
        by_key.setdefault(group_key(cfg), []).append(index)
    return [members[i : i + size] for members in by_key.values() for i in range(0, len(members), size)]
