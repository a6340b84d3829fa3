"""The tracking writer: the MLflow store, one run per job, buffered batch logging of the per-layer stats."""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.store.artifact.artifact_repo import ArtifactRepository
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient
from torch import Tensor

from annlab.record import ACTIVATION_PARAM_METRIC, HEARTBEAT, STATS, TRACEBACK_FILE, layer_key, stat_names
from annlab.train.distributions import COLUMNS as DISTRIBUTION_COLUMNS
from annlab.train.distributions import Row

# MLflow's limits per log_batch call.
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
# MLflow values pending before a background flush during training: the writer thread sends them
# with log_batch while training goes on (torch ops release the GIL). MLflow's own async logging
# (synchronous=False) was slower on SQLite here: its worker pool's writers contend for the file.
# Only values bound for MLflow count: a traced run's probe steps outside tracking.metric_points
# go to the parquet table alone, and flushing on them sent each epoch's few metrics in a
# log_batch of its own, whose SQLAlchemy work held the GIL against the loop (a traced group of 8
# trained 1.2-1.8x slower with its runs' writers than without).
FLUSH_EVERY = 2_000
# Seconds between heartbeats (tag annlab.heartbeat), by which a sweep on another host tells a
# run whose node was lost from one that is still training (annlab.train.reaper); what is pending
# goes to the store with each, so a live run's metrics are at most this old there.
HEARTBEAT_EVERY = 30.0


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """`{"a": {"b": 1}, "c": [x, y]}` -> `{"a.b": "1", "c.0": "x", "c.1": "y"}`."""
    out: dict[str, str] = {}
    items: Iterable[tuple[Any, Any]] = d.items()
    for k, v in items:
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        elif isinstance(v, list | tuple) and v and all(isinstance(e, Mapping) for e in v):
            for i, e in enumerate(v):
                out.update(flatten(e, f"{key}.{i}."))
        else:
            out[key] = str(v)
    return out


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


_WRITER: tuple[int, ThreadPoolExecutor] | None = None


def _writer() -> ThreadPoolExecutor:
    """The one thread of this process (made again after a fork) that sends every run's
    background writes, in order. A thread a run sent a group's writes at once: 32 members'
    flushes outnumbered the connections of MLflow's SQLAlchemy pool (5 and 10 more), whose
    waits timed out after 30 s and failed the runs or hung the sweep; SQLite takes one writer
    at a time anyway."""
    global _WRITER
    if _WRITER is None or _WRITER[0] != os.getpid():
        _WRITER = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="annlab-mlflow"))
    return _WRITER[1]


class RunLogger:
    """One MLflow run. Per-layer stats are kept as tensors and written in large batches.

    `seconds` counts the wall time spent in MLflow calls (and in turning stats into MLflow
    metrics), so that a job can report its logging share.
    """

    def __init__(
        self, uri: str, experiment_id: str, run_name: str, tags: Mapping[str, str], metric_steps: set[int] | None = None
    ):
        self.client = MlflowClient(uri)
        # The probe steps whose per-layer stats also go to MLflow as metrics (None: all of them);
        # layer_stats.parquet holds every probe step.
        self.metric_steps = metric_steps
        self.seconds = 0.0
        self.n_values = 0
        self._layer_rows: list[tuple[int, float, Tensor]] = []  # (step, time, [stats, layers])
        self._flushed_rows = 0
        self._pending: list[Metric] = []
        self._pending_values = 0  # values of _pending and of the unflushed rows' metric steps
        self._epoch_rows: list[dict[str, float]] = []
        self._distribution_rows: list[Row] = []
        self._writer = _writer()
        self._writes: list[Future[None]] = []
        self._ended = False
        self._beat = time.time()
        tic = time.perf_counter()
        self.run = self.client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
        self.run_id = self.run.info.run_id
        self.seconds += time.perf_counter() - tic

    # -- what training sends (annlab.train.Sink) --------------------------------------------
    def _beat_or_flush(self) -> None:
        """Every HEARTBEAT_EVERY seconds the heartbeat tag and whatever is pending; between
        them, the pending values once FLUSH_EVERY of them are bound for MLflow."""
        now = time.time()
        if now - self._beat >= HEARTBEAT_EVERY:
            self._beat = now
            self._writes.append(self._writer.submit(self.client.set_tag, self.run_id, HEARTBEAT, str(int(now))))
            if self._pending_values:
                self.flush(wait=False)
        elif self._pending_values >= FLUSH_EVERY:
            self.flush(wait=False)

    def layer_stats(self, step: int, values: Tensor) -> None:
        self._layer_rows.append((step, time.time(), values.cpu()))  # a CUDA probe's too: the table is numpy
        if self.metric_steps is None or step in self.metric_steps:
            self._pending_values += values.numel()
        self._beat_or_flush()

    def layer_distributions(self, rows: list[Row]) -> None:
        self._distribution_rows.extend(rows)

    def epoch_metrics(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        ts = int(time.time() * 1000)
        self._pending.extend(Metric(k, v, ts, epoch) for k, v in metrics.items())
        self._pending_values += len(metrics)
        self._epoch_rows.append({"epoch": epoch, "step": step, **metrics})
        self._beat_or_flush()

    # -- writing -------------------------------------------------------------------------------
    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        ts = int(time.time() * 1000)
        self._pending.extend(Metric(k, float(v), ts, step) for k, v in metrics.items())
        self._pending_values += len(metrics)

    def flush(self, wait: bool = True) -> None:
        """Hand everything pending to MLflow's batch API (MAX_METRICS_PER_BATCH per call).

        The writes run in order on the writer thread; `wait` blocks until every write queued
        so far is in the store, and raises the first error of any of them.
        """
        tic = time.perf_counter()
        metrics = self._pending
        for step, t, values in self._layer_rows[self._flushed_rows :]:
            if self.metric_steps is not None and step not in self.metric_steps:
                continue
            ts = int(t * 1000)
            rows = values.tolist()
            for stat, row in zip(stat_names(len(rows)), rows, strict=True):
                if stat in STATS:
                    metrics.extend(Metric(layer_key(i + 1, stat), v, ts, step) for i, v in enumerate(row))
                elif stat == ACTIVATION_PARAM_METRIC:  # only the layers that learn one
                    metrics.extend(
                        Metric(layer_key(i + 1, stat), v, ts, step) for i, v in enumerate(row) if math.isfinite(v)
                    )
        self._flushed_rows = len(self._layer_rows)
        for chunk in _chunks(metrics, MAX_METRICS_PER_BATCH):
            self._writes.append(self._writer.submit(self.client.log_batch, self.run_id, metrics=chunk))
        self.n_values += len(metrics)
        self._pending, self._pending_values = [], 0
        if wait:
            writes, self._writes = self._writes, []
            for write in writes:
                write.result()
        self.seconds += time.perf_counter() - tic

    def log_params(self, params: Mapping[str, str]) -> None:
        tic = time.perf_counter()
        items = [Param(k, v) for k, v in params.items()]
        for chunk in _chunks(items, MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=chunk, synchronous=True)
        self.seconds += time.perf_counter() - tic

    def set_tags(self, tags: Mapping[str, str]) -> None:
        tic = time.perf_counter()
        self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in tags.items()], synchronous=True)
        self.seconds += time.perf_counter() - tic

    def layer_table(self) -> pd.DataFrame:
        """The per-layer stats as one wide table: a row per (step, layer), a column per stat."""
        if not self._layer_rows:
            return pd.DataFrame(columns=["step", "layer", *STATS])
        values = torch.stack([v for _, _, v in self._layer_rows])  # [probes, stats, layers]
        n_probes, n_stats, n_layers = values.shape
        names = list(stat_names(n_stats))
        frame = pd.DataFrame(values.permute(0, 2, 1).reshape(-1, n_stats).numpy(), columns=names)
        frame.insert(0, "layer", list(range(1, n_layers + 1)) * n_probes)
        frame.insert(0, "step", [s for s, _, _ in self._layer_rows for _ in range(n_layers)])
        return frame

    def distribution_table(self) -> pd.DataFrame | None:
        """The distributions record (annlab.train.distributions.COLUMNS), None if none was taken."""
        if not self._distribution_rows:
            return None
        return pd.DataFrame(self._distribution_rows, columns=list(DISTRIBUTION_COLUMNS))

    def epoch_table(self) -> pd.DataFrame:
        """The run-level metrics as one table: a row per epoch, a column per metric."""
        return pd.DataFrame(self._epoch_rows, columns=None if self._epoch_rows else ["epoch", "step"])

    def log_artifacts(self, files: Mapping[str, str | bytes | pd.DataFrame]) -> None:
        """Write `files` (name -> text, bytes or a frame saved as parquet) as run artifacts."""
        tic = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in files.items():
                path = Path(tmp) / name
                if isinstance(content, pd.DataFrame):
                    content.to_parquet(path, index=False)
                elif isinstance(content, bytes):
                    path.write_bytes(content)
                else:
                    path.write_text(content)
            self._artifacts().log_artifacts(tmp)
        self.seconds += time.perf_counter() - tic

    def _artifacts(self) -> ArtifactRepository:
        """The run's artifact repository, from the artifact URI its creation returned: the
        client's own lookup reads the whole run back first (~0.3 s a run with its metrics, while
        its writer thread holds the store)."""
        return get_artifact_repository(self.run.info.artifact_uri, tracking_uri=self.client.tracking_uri)

    def end(self, status: str, error: BaseException | None = None) -> None:
        """Flush and end the run with `status` (FINISHED, FAILED, KILLED); record the error.

        Ending twice (a SIGTERM that lands while the run is being ended FINISHED) ends it with
        the second status and writes nothing more: its queued writes are done or dropped by then.
        """
        if self._ended:
            self._terminate(status)
            return
        self._ended = True
        try:
            self.flush()
            if error is not None:
                reason = f"{type(error).__name__}: {error}"
                self.set_tags({"annlab.error": reason[:5000]})
                with contextlib.suppress(Exception):  # the artifact store may be what failed
                    self.log_artifacts({TRACEBACK_FILE: "".join(traceback.format_exception(error))})
        finally:
            # What this run still has queued is dropped (a write failed, or a signal came);
            # the write under way, if any, ends before the run does.
            for write in self._writes:
                write.cancel()
            wait(self._writes)
            self._writes = []
            self._terminate(status)

    def _terminate(self, status: str) -> None:
        tic = time.perf_counter()
        self.client.set_terminated(self.run_id, status=RunStatus.to_string(RunStatus.from_string(status)))
        self.seconds += time.perf_counter() - tic
