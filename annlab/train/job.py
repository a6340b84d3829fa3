"""One job end to end: data, model, tracked run, training, artifacts, and a one-line result."""

from __future__ import annotations

import random
import subprocess
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml

from annlab import __version__, record
from annlab.config import ConfigError, RunConfig
from annlab.naming import run_name
from annlab.net.activations import build_activation
from annlab.net.model import MLP
from annlab.progress import JobProgress, Watched
from annlab.record import resolve_uri
from annlab.train import interrupt, resume
from annlab.train.data import Split, load_split
from annlab.train.identity import config_hash
from annlab.train.interrupt import Terminated
from annlab.train.loop import TrainResult, probe_steps, thinned, train
from annlab.train.network import network_table, probe_batch, spectrum_table
from annlab.train.reaper import owner_tags
from annlab.train.summary import named_parameters_text, param_summary
from annlab.train.tracking import RunLogger, ensure_experiment, flatten


@dataclass(frozen=True)
class JobMeta:
    """What the launcher knows about a job that its config does not say."""

    tags: dict[str, str] = field(default_factory=dict)
    label: str = ""  # e.g. "job 3/8", for progress lines
    resolved: dict[str, Any] = field(default_factory=dict)  # the config as the user wrote it
    config_yaml: str = ""
    # Print the parameter summary (and, for a model of at most SHOW_PARAMETERS parameters, its
    # named parameters) before training, as the seed's train() does: the CLI does for one job.
    show_model: bool = False


SHOW_PARAMETERS = 1000


@dataclass
class JobResult:
    run_id: str
    run_name: str
    status: str  # FINISHED | SKIPPED (resume found it FINISHED) | FAILED | KILLED
    diverged: bool
    metrics: dict[str, float]
    seconds: float
    logging_seconds: float
    error: str = ""
    train_seconds: float = 0.0  # of `seconds`, inside the training loop

    def line(self) -> str:
        """The one-line result a sweep prints per job."""
        state = "DIVERGED" if self.diverged else self.status
        shown = " ".join(f"{k}={v:.4f}" for k, v in self.metrics.items() if k.startswith("val/"))
        extra = f" ({self.error})" if self.error else ""
        return f"{self.run_name}: {state} {shown} [{self.seconds:.1f}s]{extra}".replace("  ", " ")


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


def _train_and_record(cfg: RunConfig, meta: JobMeta, logger: RunLogger, prepared: tuple) -> TrainResult:
    data, model, device = prepared
    calibrate(cfg, data, model, device)
    summary = param_summary(model, (min(5, len(data.x_train)), data.n_features), str(device))
    if meta.show_model:
        print(summary.table(), flush=True)
        if summary.total <= SHOW_PARAMETERS:
            print(named_parameters_text(model), flush=True)
    network = network_table(cfg, model, data)
    spectra = spectrum_table(cfg, model, data, network)  # at initialisation, before any step
    logger.log_params(flatten(meta.resolved or cfg.model_dump(mode="json", by_alias=True)))
    with JobProgress(f"{meta.label} {run_name(cfg)}".strip(), cfg.trainer.epochs, cfg.progress) as progress:
        result = train(model, data, cfg, Watched(logger, progress), device)
    interrupt.check()  # a SIGTERM during the last step still ends the run KILLED
    # train_seconds: wall time inside the training loop (probes and epoch metrics included), what
    # a cost comparison between runs of one sweep reads.
    logger.log_metrics(
        {"diverged": float(result.diverged), "steps": float(result.steps), "train_seconds": result.seconds},
        result.steps,
    )
    if result.diverged:
        logger.set_tags({record.DIVERGED: "true", record.DIVERGED_REASON: result.reason})
    logger.flush(wait=False)  # the writer thread stores the metrics while the tables are written
    files: dict[str, str | pd.DataFrame] = {
        record.CONFIG_FILE: meta.config_yaml or _yaml(cfg),
        record.SUMMARY_FILE: summary.table() + "\n",
        record.LAYER_TABLE: logger.layer_table(),
        record.EPOCH_TABLE: logger.epoch_table(),
        record.NETWORK_TABLE: network,
    }
    if (distributions := logger.distribution_table()) is not None:
        files[record.DISTRIBUTIONS_TABLE] = distributions
    if spectra is not None:
        files[record.SPECTRUM_TABLE] = spectra
    logger.log_artifacts(files)
    return result


def run_job(cfg: RunConfig, meta: JobMeta | None = None, uri: str | None = None) -> JobResult:
    """Train one configured model into one MLflow run and return its result.

    A bad config raises ConfigError before the run exists. With `cfg.resume`, a config that
    already has a FINISHED run in the experiment is skipped (status SKIPPED). Divergence is a
    result (tag and metric); any other exception ends the run FAILED with its traceback, and
    is re-raised; Ctrl-C or SIGTERM ends it KILLED.
    """
    meta = meta or JobMeta()
    tic = time.perf_counter()
    prepared = prepare(cfg)
    uri = resolve_uri(uri or cfg.tracking.uri)
    experiment_id = ensure_experiment(uri, cfg.tracking.experiment)
    name, digest = run_name(cfg), config_hash(cfg)
    if cfg.resume and (existing := resume.finished_run(uri, experiment_id, digest)):
        return JobResult(existing, name, "SKIPPED", False, {}, time.perf_counter() - tic, 0.0, "already FINISHED")
    tags = {**run_tags(cfg, prepared[0], digest), **owner_tags(), **meta.tags}
    steps = thinned(probe_steps(len(prepared[0].x_train), cfg), cfg.tracking.metric_points)
    logger = RunLogger(uri, experiment_id, name, tags, steps)
    with interrupt.sigterm_requests_stop():
        try:
            result = _train_and_record(cfg, meta, logger, prepared)
            logger.end("FINISHED")
            resume.finished(uri, experiment_id, digest, logger.run_id)
        except (KeyboardInterrupt, Terminated) as err:
            logger.end("KILLED", err)
            raise
        except Exception as err:
            logger.end("FAILED", err)
            raise
    seconds = time.perf_counter() - tic
    return JobResult(
        logger.run_id,
        name,
        "FINISHED",
        result.diverged,
        result.final,
        seconds,
        logger.seconds,
        result.reason,
        result.seconds,
    )


def _yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json", by_alias=True), sort_keys=False)
