"""A job's identity, what `resume` matches on: stable across renames and new keys of the config."""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from typing import Any

from annlab.config import RunConfig
from annlab.parts import fingerprint
from annlab.record import RENAMED

# Names renamed since the first release, back to the names old runs' identities were made from.
LEGACY_NAMES = {group: {new: old for old, new in renames.items()} for group, renames in RENAMED.items()}
# Keys added since then, at the value that reproduces what ran before they existed: left out of
# the identity at that value, so that a sweep started before them resumes after them.
NEW_KEYS_AT_OLD_BEHAVIOUR: dict[tuple[str, ...], Any] = {
    ("dataset", "standardize"): True,
    ("probe", "batch"): "fixed",
    ("dataset", "path"): None,
    ("dataset", "target"): None,
    ("dataset", "factory"): None,
    ("dataset", "task"): None,
}
# What the identity never holds: where a run is logged, how it is resumed, how many threads it used,
# how it showed its progress.
NOT_IDENTITY = ("tracking", "resume", "threads", "progress")
# Nor what a run records besides its result: how many probe steps also keep distributions, how
# many examples' Jacobian spectra.
NOT_IDENTITY_KEYS = (("probe", "distributions"), ("probe", "spectrum"))
# The first release composed a per-layer model with the group defaults it ignored.
_OLD_GROUP_DEFAULTS = {
    "activation": {"name": "relu", "params": {}},
    "init": {"bias": 0.0, "name": "kaiming", "params": {"a": 0.0, "mode": "fan_in", "nonlinearity": "relu"}},
}


def identity(cfg: RunConfig) -> dict[str, Any]:
    """The config as the first release's schema dumped it, less what is not identity."""
    data = cfg.model_dump(mode="json", exclude=set(NOT_IDENTITY))
    for parent, leaf in NOT_IDENTITY_KEYS:
        data[parent].pop(leaf, None)
    for path, value in NEW_KEYS_AT_OLD_BEHAVIOUR.items():
        *parents, leaf = path
        node = data
        for key in parents:
            node = node.get(key) or {}
        if node.get(leaf, value) == value:
            node.pop(leaf, None)
    _legacy_names(data)
    model = data["model"]
    if cfg.dataset.name in ("file", "custom"):  # the user's data: what it held when the job ran
        d = cfg.dataset
        data["dataset"]["fingerprint"] = file_hash(d.path or "") if d.name == "file" else fingerprint(d.factory or "")
    # A built-in activation has no import path (added since); a user's part is identified by what
    # it ran too, so that editing it retrains (annlab.parts.fingerprint).
    for act in [data.get("activation"), *(layer["activation"] for layer in model.get("layers") or [])]:
        if isinstance(act, dict):
            target = act.pop("target", None)
            if target is not None:
                act.update(target=target, fingerprint=fingerprint(target))
    # bias_std (added since) at 0 draws the constant bias, as before it existed, in every init; a
    # built-in init has no import path or variance formula (added since); a user's is fingerprinted.
    for init in [data.get("init"), model.get("output_init"), *(layer["init"] for layer in model.get("layers") or [])]:
        if not isinstance(init, dict):
            continue
        if init.get("bias_std", 0.0) == 0.0:
            init.pop("bias_std", None)
        target = init.pop("target", None)
        if init.get("variance", 0) is None:
            init.pop("variance")
        if target is not None:
            init.update(target=target, fingerprint=fingerprint(target))
    if model.get("layers") is not None:  # a per-layer model: the old shape carried depth, width and group defaults
        data.update({k: data.get(k) or v for k, v in _OLD_GROUP_DEFAULTS.items()})
        model.update(depth=len(model["layers"]), width=model["layers"][0]["width"] if model["layers"] else 0)
    else:
        model.update({k: None for k in ("layers", "output_init", "in_features", "task")})
    return data


def _legacy_names(data: dict[str, Any]) -> None:
    for group, renames in LEGACY_NAMES.items():
        node = data.get(group)
        if isinstance(node, dict) and node.get("name") in renames:
            node["name"] = renames[node["name"]]
    model = data["model"]
    for layer in model.get("layers") or []:
        layer["init"]["name"] = LEGACY_NAMES["init"].get(layer["init"]["name"], layer["init"]["name"])
    out = model.get("output_init")
    if out:
        out["name"] = LEGACY_NAMES["init"].get(out["name"], out["name"])


def file_hash(path: str) -> str:
    """sha256 of a data file's content, once per process and version of the file."""
    stat = os.stat(path)
    return _file_hash(os.path.abspath(path), stat.st_mtime_ns, stat.st_size)


@cache
def _file_hash(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()[:20]


def config_hash(cfg: RunConfig) -> str:
    """What identifies a job's result (tag annlab.config_hash)."""
    return hashlib.sha256(json.dumps(identity(cfg), sort_keys=True).encode()).hexdigest()[:20]
