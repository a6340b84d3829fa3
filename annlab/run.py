"""Hydra entry point: `python -m annlab.run [-m] key=value ...`; the only module that sees Hydra."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from annlab.config import ConfigError, RunConfig, parse_config
from annlab.job import JobMeta, check, run_job, run_name
from annlab.tracking import ensure_experiment, resolve_uri

# conf/config.yaml puts the repository root on Hydra's search path, so that the studies in
# experiments/ compose as the config group `experiments` from any working directory.
os.environ.setdefault("ANNLAB_ROOT", str(Path(__file__).resolve().parent.parent))

TOTAL_ENV = "ANNLAB_SWEEP_TOTAL"
SWEEP_ENV = "ANNLAB_SWEEP"


def _plain(cfg: DictConfig) -> dict[str, Any]:
    data = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(data, dict)
    data.pop("hydra", None)
    return {str(k): v for k, v in data.items()}


def _fail(message: str) -> None:
    print(f"annlab: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def sweep_jobs(config: DictConfig) -> list[list[str]]:
    """The override list of every job of the sweep `config` describes, as Hydra's basic
    sweeper expands it (hydra.sweeper.params first, then the command line)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    params = config.hydra.sweeper.get("params") or {}
    arguments = [f"{k}={v}" for k, v in params.items()] + list(config.hydra.overrides.task)
    overrides = OverridesParser.create().parse_overrides(arguments)
    batches = BasicSweeper.split_arguments(overrides, None)
    return [list(job) for batch in batches for job in batch]


class SweepCallback(Callback):
    """Before any job of a sweep starts: compose and validate every job's config (a bad value
    anywhere stops the sweep before training), count the jobs for progress lines, and create
    the tracking store once (parallel jobs race on a fresh SQLite store)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        jobs = sweep_jobs(config)
        errors, stores = [], set()
        for overrides in jobs:
            try:
                cfg = parse_config(_plain(hydra.compose(config.hydra.job.config_name, overrides=overrides)))
                check(cfg)
                stores.add((resolve_uri(cfg.tracking.uri), cfg.tracking.experiment))
            except (ConfigError, HydraException, ValueError) as err:
                errors.append(f"job {' '.join(overrides) or '(no overrides)'}:\n{err}")
        if errors:
            _fail(f"{len(errors)} of {len(jobs)} jobs have a bad config; nothing was run.\n" + "\n".join(errors))
        for uri, experiment in sorted(stores):
            ensure_experiment(uri, experiment)
        os.environ[TOTAL_ENV] = str(len(jobs))
        os.environ[SWEEP_ENV] = str(config.hydra.sweep.dir)
        print(f"annlab: sweep of {len(jobs)} jobs into {', '.join(u for u, _ in sorted(stores))}", flush=True)


def job_meta(cfg: DictConfig, data: dict[str, Any]) -> JobMeta:
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    total = os.environ.get(TOTAL_ENV, "?") if multirun else "1"
    number = int(hc.job.num) + 1 if multirun else 1
    tags = {f"annlab.choice.{k}": str(v) for k, v in hc.runtime.choices.items() if not k.startswith("hydra")}
    tags["annlab.sweep"] = os.environ.get(SWEEP_ENV, str(hc.sweep.dir)) if multirun else str(hc.run.dir)
    tags["annlab.job"] = str(number)
    yaml = OmegaConf.to_yaml(OmegaConf.create(data))
    return JobMeta(tags=tags, label=f"job {number}/{total}", resolved=data, config_yaml=yaml)


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    data = _plain(cfg)
    try:
        run_cfg: RunConfig = parse_config(data)
    except ConfigError as err:
        _fail(str(err))
    meta = job_meta(cfg, data)
    print(f"annlab: {meta.label} running {run_name(run_cfg)}", flush=True)
    try:
        result = run_job(run_cfg, meta)
    except ConfigError as err:
        _fail(str(err))
    print(f"annlab: {meta.label} {result.line()}", flush=True)
    key = next((k for k in result.metrics if k.startswith("val/") and k != "val/loss"), None)
    return result.metrics.get(key) if key else None


if __name__ == "__main__":
    main()
