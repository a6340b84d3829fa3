"""One job end to end: data, model, tracked run, training, artifacts, and a one-line result."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mlflow.tracking import MlflowClient

from annlab import __version__
from annlab.config import ConfigError, RunConfig
from annlab.data import Split, load_split
from annlab.model import MLP, InitSpec, LayerSpec
from annlab.summary import param_summary
from annlab.tracking import RunLogger, ensure_experiment, flatten, resolve_uri
from annlab.train import TrainResult, TrainSettings, train


@dataclass(frozen=True)
class JobMeta:
    """What the launcher knows about a job that its config does not say."""

    tags: dict[str, str] = field(default_factory=dict)
    label: str = ""  # e.g. "job 3/8", for progress lines
    resolved: dict[str, Any] = field(default_factory=dict)  # the config as the user wrote it
    config_yaml: str = ""


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

    def line(self) -> str:
        """The one-line result a sweep prints per job."""
        state = "DIVERGED" if self.diverged else self.status
        shown = " ".join(f"{k}={v:.4f}" for k, v in self.metrics.items() if k.startswith("val/"))
        extra = f" ({self.error})" if self.error else ""
        return f"{self.run_name}: {state} {shown} [{self.seconds:.1f}s]{extra}".replace("  ", " ")


@cache
def code_version() -> str:
    """The git commit of the code (with -dirty for local changes), else the package version."""
    root = Path(__file__).resolve().parent.parent
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


def run_name(cfg: RunConfig) -> str:
    """`{activation}-{init}-d{depth}-{dataset}-s{seed}`, or the model's name if not uniform."""
    if cfg.model.layers is not None:
        return f"{cfg.model.name}-{cfg.dataset.name}-s{cfg.seed}"
    return f"{cfg.activation.name}-{cfg.init.name}-d{cfg.depth}-{cfg.dataset.name}-s{cfg.seed}"


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
    if cfg.model.in_features is not None and cfg.model.in_features != data.n_features:
        raise ConfigError(
            f"model={cfg.model.name} takes {cfg.model.in_features} input features but "
            f"dataset={data.name} has {data.n_features}"
        )
    hidden = [
        LayerSpec(
            layer.width,
            layer.activation.name,
            InitSpec(layer.init.name, dict(layer.init.params), layer.init.bias),
            dict(layer.activation.params),
        )
        for layer in cfg.hidden_layers
    ]
    out = cfg.model.output_init or cfg.init
    output_init = InitSpec(out.name, dict(out.params), out.bias)
    return MLP(data.n_features, hidden, data.n_outputs, data.task, output_init)


def prepare(cfg: RunConfig) -> tuple[Split, MLP, torch.device]:
    """Everything that can fail on a bad config, done before any run is created."""
    device = pick_device(cfg.device)
    torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    d = cfg.dataset
    try:
        data = load_split(d.name, d.n_samples, d.val_fraction, cfg.seed, dict(d.params))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"dataset={d.name} with params {dict(d.params)}: {err}") from None
    min_train = 2
    if len(data.x_train) < min_train or len(data.x_val) < 1:
        raise ConfigError(
            f"dataset.n_samples={d.n_samples} with val_fraction={d.val_fraction} leaves "
            f"{len(data.x_train)} training and {len(data.x_val)} validation examples"
        )
    try:
        model = build_model(cfg, data).to(device)
    except (TypeError, ValueError) as err:
        raise ConfigError(str(err)) from None
    return data, model, device


def check(cfg: RunConfig) -> None:
    """Raise ConfigError if `cfg` cannot run (data and model are built, nothing is trained)."""
    prepare(cfg)


def settings(cfg: RunConfig) -> TrainSettings:
    return TrainSettings(
        epochs=cfg.trainer.epochs,
        batch_size=cfg.trainer.batch_size,
        optimizer=cfg.optimizer.name,
        lr=cfg.optimizer.lr,
        momentum=cfg.optimizer.momentum,
        weight_decay=cfg.optimizer.weight_decay,
        probe_every=cfg.probe.every,
        probe_batch=cfg.probe.batch_size,
        seed=cfg.seed,
    )


class Terminated(BaseException):
    """SIGTERM arrived: like Ctrl-C, the run ends KILLED rather than RUNNING forever."""


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum: int, frame: object) -> None:
        raise Terminated(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals to whoever owns it
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def config_hash(cfg: RunConfig) -> str:
    """What identifies a job's result: the config less where it is logged and how it is resumed."""
    identity = cfg.model_dump(mode="json", exclude={"tracking", "resume", "threads"})
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def finished_run(uri: str, experiment_id: str, digest: str) -> str | None:
    """The id of a FINISHED run of the same config in the experiment, if there is one."""
    runs = MlflowClient(uri).search_runs(
        [experiment_id], f"tags.`annlab.config_hash` = '{digest}' and attributes.status = 'FINISHED'", max_results=1
    )
    return runs[0].info.run_id if runs else None


def run_job(cfg: RunConfig, meta: JobMeta | None = None, uri: str | None = None) -> JobResult:
    """Train one configured model into one MLflow run and return its result.

    A bad config raises ConfigError before the run exists. With `cfg.resume`, a config that
    already has a FINISHED run in the experiment is skipped (status SKIPPED). Divergence is a
    result (tag and metric); any other exception ends the run FAILED with its traceback, and
    is re-raised; Ctrl-C or SIGTERM ends it KILLED.
    """
    meta = meta or JobMeta()
    tic = time.perf_counter()
    data, model, device = prepare(cfg)
    uri = resolve_uri(uri or cfg.tracking.uri)
    experiment_id = ensure_experiment(uri, cfg.tracking.experiment)
    name = run_name(cfg)
    digest = config_hash(cfg)
    if cfg.resume and (existing := finished_run(uri, experiment_id, digest)):
        return JobResult(existing, name, "SKIPPED", False, {}, time.perf_counter() - tic, 0.0, "already FINISHED")
    tags = {
        "annlab.code_version": code_version(),
        "annlab.task": data.task,
        "annlab.depth": str(cfg.depth),
        "annlab.model": cfg.model.name,
        "annlab.config_hash": digest,
        **meta.tags,
    }
    logger = RunLogger(uri, experiment_id, name, tags)
    result = TrainResult()
    with _sigterm_as_interrupt():
        try:
            summary = param_summary(model, (min(5, len(data.x_train)), data.n_features), str(device))
            logger.log_params(flatten(meta.resolved or cfg.model_dump(mode="json")))
            result = train(model, data, settings(cfg), logger, device)
            logger.log_metrics({"diverged": float(result.diverged), "steps": float(result.steps)}, result.steps)
            if result.diverged:
                logger.set_tags({"diverged": "true", "annlab.diverged_reason": result.reason})
            logger.log_artifacts(
                {
                    "config.yaml": meta.config_yaml or _yaml(cfg),
                    "model_summary.txt": summary.table() + "\n",
                    "layer_stats.parquet": logger.layer_table(),
                    "epochs.parquet": logger.epoch_table(),
                }
            )
            logger.end("FINISHED")
        except (KeyboardInterrupt, Terminated) as err:
            logger.end("KILLED", err)
            raise
        except Exception as err:
            logger.end("FAILED", err)
            raise
    return JobResult(
        logger.run_id,
        name,
        "FINISHED",
        result.diverged,
        result.final,
        time.perf_counter() - tic,
        logger.seconds,
        result.reason,
    )


def _yaml(cfg: RunConfig) -> str:
    import yaml

    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
