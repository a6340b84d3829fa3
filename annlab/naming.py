"""Run names: what ran, in the DESIGN's pattern, with a suffix for each value a study sweeps beside it."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from annlab.config import RunConfig
from annlab.paths import CONF


@cache
def group_default(group: str, option: str, key: str) -> Any:
    """`key` as conf/GROUP/OPTION.yaml sets it (following the options it extends, as an alias
    does), or None where no such option or key exists (a user's own part)."""
    import yaml

    path = CONF / group / f"{option}.yaml"
    if not path.is_file():
        return None
    data = yaml.safe_load(path.read_text()) or {}
    if key in data:
        return data[key]
    for parent in data.get("defaults") or []:
        if isinstance(parent, str) and parent != "_self_":
            return group_default(group, parent, key)
    return None


def _number(value: float | str) -> str:
    return f"{value:g}" if isinstance(value, float | int) else str(value)


def suffixes(cfg: RunConfig) -> str:
    """`-b{bias}` where the bias differs from its init option's default (a per-layer model: when
    every hidden layer has one bias that differs from each layer's init's default), `-bs{std}`
    where biases are drawn with bias_std > 0, `-{param}{value}` for each of the init's params that
    differs from its option's (not for a per-layer model), and
    `-lr{lr}` where the learning rate differs from its optimizer option's default. From the
    job's config alone, so every sweeper and launcher names a run alike."""
    out = ""
    inits = [layer.init for layer in cfg.hidden_layers] if cfg.per_layer else [cfg.init] if cfg.init else []
    biases = {init.bias for init in inits}
    # a user's init has no option file: its bias default is the schema's, 0
    if len(biases) == 1 and all(init.bias != (group_default("init", init.name, "bias") or 0.0) for init in inits):
        out += f"-b{_number(biases.pop())}"
    stds = {init.bias_std for init in inits}
    if len(stds) == 1 and all(init.bias_std for init in inits):
        out += f"-bs{_number(stds.pop())}"
    if not cfg.per_layer and cfg.init is not None:
        # An init's own params where they differ from its option's (xavier's gain, the critical line's q*).
        defaults = group_default("init", cfg.init.name, "params") or {}
        for key, value in sorted(cfg.init.params.items()):
            if key in defaults and value != defaults[key]:
                out += f"-{key}{_number(value)}"
    if cfg.optimizer.lr != group_default("optimizer", cfg.optimizer.name, "lr"):
        out += f"-lr{_number(cfg.optimizer.lr)}"
    return out


def run_name(cfg: RunConfig) -> str:
    """`{activation}-{init}-d{depth}-{dataset}-s{seed}`, or `{model name}-{dataset}-s{seed}` for a
    per-layer model, then `suffixes`."""
    data = dataset_label(cfg)
    if cfg.per_layer or cfg.activation is None or cfg.init is None:
        return f"{cfg.model.name}-{data}-s{cfg.seed}{suffixes(cfg)}"
    return f"{cfg.activation.name}-{cfg.init.name}-d{cfg.depth}-{data}-s{cfg.seed}{suffixes(cfg)}"


def dataset_label(cfg: RunConfig) -> str:
    """The dataset's name in a run name: a file's stem (dataset=file), a function's short name
    (dataset=custom), else the dataset's own."""
    d = cfg.dataset
    if d.name == "file" and d.path:
        return Path(d.path).stem
    if d.name == "custom" and d.factory:
        return d.factory.rsplit(".", 1)[-1]
    return d.name
