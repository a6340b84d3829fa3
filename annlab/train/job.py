"""One job end to end: data, model, tracked run, training, artifacts, and a one-line result."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
import yaml

from annlab import record
from annlab.config import RunConfig
from annlab.naming import run_name
from annlab.net.model import MLP
from annlab.progress import JobProgress, Watched
from annlab.record import resolve_uri
from annlab.train import interrupt, resume
from annlab.train.data import Split
from annlab.train.experiments import ensure_experiment
from annlab.train.identity import config_hash
from annlab.train.interrupt import Terminated
from annlab.train.loop import Member, TrainResult, train_group
from annlab.train.network import network_table, spectrum_table
from annlab.train.reaper import owner_tags
from annlab.train.schedule import probe_steps, thinned
from annlab.train.setup import calibrate, prepare, run_tags
from annlab.train.summary import named_parameters_text, param_summary
from annlab.train.tracking import RunLogger, flatten


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


@dataclass
class _Started:
    """A job between its set-up (its run exists, its params are logged) and its record."""

    cfg: RunConfig
    meta: JobMeta
    tic: float
    name: str
    logger: RunLogger
    digest: str
    uri: str
    experiment_id: str
    data: Split
    model: MLP
    device: torch.device
    summary: Any = None
    network: pd.DataFrame | None = None
    spectra: pd.DataFrame | None = None


def _set_up(job: _Started) -> None:
    """Inside the job's run: calibration, the summary, the network's theory and spectrum at
    initialisation (before any step), the params."""
    cfg, meta, data, model, device = job.cfg, job.meta, job.data, job.model, job.device
    calibrate(cfg, data, model, device)
    job.summary = param_summary(model, (min(5, len(data.x_train)), data.n_features), str(device))
    if meta.show_model:
        print(job.summary.table(), flush=True)
        if job.summary.total <= SHOW_PARAMETERS:
            print(named_parameters_text(model), flush=True)
    job.network = network_table(cfg, model, data)
    job.spectra = spectrum_table(cfg, model, data, job.network)
    job.logger.log_params(flatten(meta.resolved or cfg.model_dump(mode="json", by_alias=True)))


def _record(job: _Started, result: TrainResult) -> None:
    """The trained job's last metrics, tags and tables."""
    cfg, meta, logger = job.cfg, job.meta, job.logger
    # train_seconds: wall time inside the training loop (probes and epoch metrics included; a
    # group's, divided by its size), what a cost comparison between runs of one sweep reads.
    logger.log_metrics(
        {"diverged": float(result.diverged), "steps": float(result.steps), "train_seconds": result.seconds},
        result.steps,
    )
    if result.diverged:
        logger.set_tags({record.DIVERGED: "true", record.DIVERGED_REASON: result.reason})
    logger.flush(wait=False)  # the writer thread stores the metrics while the tables are written
    assert job.network is not None
    files: dict[str, str | pd.DataFrame] = {
        record.CONFIG_FILE: meta.config_yaml or _yaml(cfg),
        record.SUMMARY_FILE: job.summary.table() + "\n",
        record.LAYER_TABLE: logger.layer_table(),
        record.EPOCH_TABLE: logger.epoch_table(),
        record.NETWORK_TABLE: job.network,
    }
    if (distributions := logger.distribution_table()) is not None:
        files[record.DISTRIBUTIONS_TABLE] = distributions
    if job.spectra is not None:
        files[record.SPECTRUM_TABLE] = job.spectra
    logger.log_artifacts(files)


def _text(err: BaseException) -> str:
    """An error as a result states it (as the run's tag annlab.error does)."""
    return f"{type(err).__name__}: {err}"


def _result(job: _Started, status: str, result: TrainResult | None = None, err: Exception | None = None) -> JobResult:
    """The job's result; a FAILED one says `err`."""
    trained = result or TrainResult()
    seconds = time.perf_counter() - job.tic
    return JobResult(
        job.logger.run_id,
        job.name,
        status,
        trained.diverged,
        trained.final,
        seconds,
        job.logger.seconds,
        _text(err) if err else trained.reason,
        trained.seconds,
    )


def _failed(cfg: RunConfig, tic: float, err: BaseException) -> JobResult:
    """A group member that failed before its run existed (its config, on this machine)."""
    return JobResult("", run_name(cfg), "FAILED", False, {}, time.perf_counter() - tic, 0.0, _text(err))


def run_job(cfg: RunConfig, meta: JobMeta | None = None, uri: str | None = None) -> JobResult:
    """Train one configured model into one MLflow run and return its result: a group of one.

    A bad config raises ConfigError before the run exists. With `cfg.resume`, a config that
    already has a FINISHED run in the experiment is skipped (status SKIPPED). Divergence is a
    result (tag and metric); any other exception ends the run FAILED with its traceback, and
    is re-raised; Ctrl-C or SIGTERM ends it KILLED.
    """
    return run_group([(cfg, meta or JobMeta())], uri, alone=True)[0]


def run_group(
    jobs: Sequence[tuple[RunConfig, JobMeta]], uri: str | None = None, alone: bool = False, label: str = ""
) -> list[JobResult]:
    """Train jobs that share their shapes together (annlab.train.loop.train_group), each into its
    own MLflow run, as `run_job` trains one; the results in the jobs' order. `alone` (one job):
    errors are raised as `run_job` says. In a group a member that fails (its set-up, its sink)
    is a FAILED result and the others go on; Ctrl-C or SIGTERM ends every run KILLED."""
    results: list[JobResult | None] = [None] * len(jobs)
    started: dict[int, _Started] = {}
    with interrupt.sigterm_requests_stop():
        try:
            for k, (cfg, meta) in enumerate(jobs):
                outcome = _start(cfg, meta, uri, alone)
                if isinstance(outcome, JobResult):
                    results[k] = outcome
                    continue
                started[k] = outcome
                try:
                    _set_up(outcome)
                except Exception as err:
                    outcome.logger.end("FAILED", err)
                    del started[k]
                    if alone:
                        raise
                    results[k] = _result(outcome, "FAILED", err=err)
            if started:
                try:
                    _train_started(started, results, alone, label)
                except Exception as err:  # the group's training itself: every run in it ends FAILED
                    for k, job in list(started.items()):
                        job.logger.end("FAILED", err)
                        results[k] = _result(job, "FAILED", err=err)
                    started.clear()
                    if alone:
                        raise
        except (KeyboardInterrupt, Terminated) as err:
            for job in started.values():
                job.logger.end("KILLED", err)
            raise
    done = [r for r in results if r is not None]
    assert len(done) == len(jobs), "every job of a group ends with a result"
    return done


def _start(cfg: RunConfig, meta: JobMeta, uri: str | None, alone: bool) -> _Started | JobResult:
    """A job prepared and its run created; or its result where resume finds it done, or (in a
    group) where it fails before its run exists."""
    tic = time.perf_counter()
    try:
        data, model, device = prepare(cfg)
    except Exception as err:
        if alone:
            raise
        return _failed(cfg, tic, err)
    store = resolve_uri(uri or cfg.tracking.uri)
    experiment_id = ensure_experiment(store, cfg.tracking.experiment)
    name, digest = run_name(cfg), config_hash(cfg)
    if cfg.resume and (existing := resume.finished_run(store, experiment_id, digest)):
        return JobResult(existing, name, "SKIPPED", False, {}, time.perf_counter() - tic, 0.0, "already FINISHED")
    tags = {**run_tags(cfg, data, digest), **owner_tags(), **meta.tags}
    steps = thinned(probe_steps(len(data.x_train), cfg), cfg.tracking.metric_points)
    logger = RunLogger(store, experiment_id, name, tags, steps)
    return _Started(cfg, meta, tic, name, logger, digest, store, experiment_id, data, model, device)


def _train_started(started: dict[int, _Started], results: list[JobResult | None], alone: bool, label: str) -> None:
    """Train the started jobs as one group and record each."""
    jobs = list(started.values())
    first = jobs[0]
    title = label or f"{first.meta.label} {run_name(first.cfg)}".strip()
    with JobProgress(title, first.cfg.trainer.epochs, first.cfg.progress) as progress:
        sinks: list[Any] = [Watched(first.logger, progress), *(job.logger for job in jobs[1:])]
        members = [Member(job.model, job.data, job.cfg, sink) for job, sink in zip(jobs, sinks, strict=True)]
        trained = train_group(members, first.device)
    interrupt.check()  # a SIGTERM during the last step still ends the runs KILLED
    # Every member's record first, then every end: each run's writer thread stores its metrics
    # while the next member's tables are written, instead of one run waiting at a time.
    recorded: list[tuple[int, _Started, TrainResult]] = []
    for (k, job), result in zip(list(started.items()), trained, strict=True):
        try:
            if result.error is not None:
                raise result.error
            _record(job, result)
            recorded.append((k, job, result))
        except Exception as err:
            _end_failed(started, results, k, err, alone, result)
    for k, job, result in recorded:
        try:
            job.logger.end("FINISHED")
            resume.finished(job.uri, job.experiment_id, job.digest, job.logger.run_id)
        except Exception as err:
            _end_failed(started, results, k, err, alone, result)
            continue
        del started[k]
        results[k] = _result(job, "FINISHED", result)


def _end_failed(
    started: dict[int, _Started],
    results: list[JobResult | None],
    k: int,
    err: Exception,
    alone: bool,
    result: TrainResult,
) -> None:
    """The run of started job `k` ends FAILED with `err` (alone: raised)."""
    job = started.pop(k)
    job.logger.end("FAILED", err)
    if alone:
        raise err
    results[k] = _result(job, "FAILED", result, err)


def _yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json", by_alias=True), sort_keys=False)
