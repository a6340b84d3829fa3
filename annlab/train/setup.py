"""A job before its run exists: device, seeds, data split and model, built (and so checked) from its config."""

from __future__ import annotations

import random
import subprocess
from functools import cache
from pathlib import Path

import numpy as np
import torch

from annlab import __version__, record
from annlab.config import ConfigError, RunConfig
from annlab.net.activations import build_activation
from annlab.net.model import MLP
from annlab.train.data import Split, load_split
from annlab.train.network import probe_batch


@cache
def code_version() -> str:
    """The git commit of the code (with -dirty for local changes), else the package version."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():  # installed from a wheel: root is site-packages, maybe in some other repo
        return __version__
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip() or __version__
    except (OSError, subprocess.SubprocessError):
        return __version__


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' but CUDA is not available here; use device=cpu or auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(cfg: RunConfig, data: Split) -> MLP:
    """The configured MLP for `data`; ConfigError if the model was built for other data."""
    want = getattr(cfg.model, "in_features", None)
    if want is not None and want != data.n_features:
        raise ConfigError(
            f"model={cfg.model.name} takes {want} input features but dataset={data.name} has {data.n_features}"
        )
    return MLP(data.n_features, cfg.hidden_layers, data.n_outputs, data.task, cfg.output_init, data.input_second_moment)


def prepare(cfg: RunConfig) -> tuple[Split, MLP, torch.device]:
    """Everything that can fail on a bad config, done before any run is created."""
    device = pick_device(cfg.device)
    torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    d = cfg.dataset
    try:
        data = load_split(d, cfg.seed)
    except (TypeError, ValueError) as err:
        given = f" with params {dict(d.params)}" if d.params else ""
        raise ConfigError(f"dataset={d.name}{given}: {err}") from None
    if len(data.x_train) < 2 or len(data.x_val) < 1:
        raise ConfigError(
            f"dataset.n_samples={d.n_samples} with val_fraction={d.val_fraction} leaves "
            f"{len(data.x_train)} training and {len(data.x_val)} validation examples"
        )
    try:
        # A user's activation, checked before anything else builds it (its message names it).
        for layer in cfg.hidden_layers:
            if layer.activation.target is not None:
                build_activation(layer.activation.name, layer.activation.params)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    try:
        model = build_model(cfg, data).to(device)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{_init_names(cfg)}: {err}") from None
    return data, model, device


def calibrate(cfg: RunConfig, data: Split, model: MLP, device: torch.device) -> None:
    """Measure the gains of calibrated inits on the probe batch itself. Done inside the job's run:
    it costs seconds for a deep model (the sweep's pre-check skips it), and it fails only on data
    (a layer that no example activates), which then ends that run FAILED with the layer named."""
    try:
        model.calibrate(probe_batch(cfg, data).to(device))
    except ValueError as err:
        raise ValueError(f"{_init_names(cfg)}: {err}") from None


def _init_names(cfg: RunConfig) -> str:
    names = dict.fromkeys([layer.init.name for layer in cfg.hidden_layers] + [cfg.output_init.name])
    return "init=" + ",".join(names)


def check(cfg: RunConfig) -> None:
    """Raise ConfigError if `cfg` cannot run (data and model are built, nothing is trained)."""
    prepare(cfg)


def run_tags(cfg: RunConfig, data: Split, digest: str) -> dict[str, str]:
    """What the run is, as tags a reader filters on: for a per-layer model the activations and
    inits of its hidden layers, joined by ','."""
    layers = cfg.hidden_layers
    return {
        record.CODE_VERSION: code_version(),
        record.TASK: data.task,
        record.DEPTH: str(cfg.depth),
        record.MODEL: cfg.model.name,
        record.ACTIVATION: ",".join(dict.fromkeys(layer.activation.name for layer in layers)),
        record.INIT: ",".join(dict.fromkeys(layer.init.name for layer in layers)),
        record.CONFIG_HASH: digest,
    }
