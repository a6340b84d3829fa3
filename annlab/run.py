"""Hydra entry point: `python -m annlab.run [-m] key=value ...`; the only module that sees Hydra."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from annlab import record
from annlab.config import ConfigError, RunConfig, parse_config
from annlab.record import resolve_uri
from annlab.train.job import JobMeta, Terminated, check, run_job, run_name
from annlab.train.reaper import reap
from annlab.train.tracking import ensure_experiment

# Where conf/ and experiments/ are: inside the package when it was installed from a wheel,
# else at the top of the source checkout (an editable install).
_PACKAGE = Path(__file__).resolve().parent
ROOT = _PACKAGE if (_PACKAGE / "conf" / "config.yaml").is_file() else _PACKAGE.parent
# conf/config.yaml puts ROOT on Hydra's search path, so that the studies in experiments/
# compose as the config group `experiments` from any working directory.
os.environ.setdefault("ANNLAB_ROOT", str(ROOT))

TOTAL_ENV = "ANNLAB_SWEEP_TOTAL"
SWEEP_ENV = "ANNLAB_SWEEP"
SWEEP_ID_ENV = "ANNLAB_SWEEP_ID"


def _plain(cfg: DictConfig) -> dict[str, Any]:
    data = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(data, dict)
    data.pop("hydra", None)
    return {str(k): v for k, v in data.items()}


def compose_config(overrides: list[str] | None = None) -> RunConfig:
    """The typed config of one job, composed from conf/ as the CLI would (for scripts and
    notebooks: `compose_config(["activation=tanh", "model.depth=5"])`)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return parse_config(_plain(compose("config", overrides=overrides or [])))


def _fail(message: str) -> None:
    print(f"annlab: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def _writable(key: str, folder: str) -> None:
    """Fail with the key and folder, not a traceback, when Hydra's output folder cannot be made."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        _fail(f"{key}={folder}: cannot write the output folder: {err.strerror or err}")


def sweep_jobs(config: DictConfig) -> list[list[str]]:
    """The override list of every job of the sweep `config` describes, as Hydra's basic
    sweeper expands it (hydra.sweeper.params first, then the command line)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    params = config.hydra.sweeper.get("params") or {}
    arguments = [f"{k}={v}" for k, v in params.items()] + list(config.hydra.overrides.task)
    overrides = OverridesParser.create().parse_overrides(arguments)
    batches = BasicSweeper.split_arguments(overrides, None)
    return [list(job) for batch in batches for job in batch]


def _reap(uri: str, experiment_id: str, stale_after: float) -> None:
    for name in reap(uri, experiment_id, stale_after):
        print(f"annlab: ended run {name}, left RUNNING by a process that is gone (tag annlab.error says why)")


def _check_jobs(config: DictConfig, jobs: list[list[str]]) -> set[tuple[str, str, float]]:
    """Compose and validate every job; the (store, experiment) pairs they log to. Any error of
    any kind stops the sweep here: the pre-check never fails open."""
    errors, stores = [], set()
    for overrides in jobs:
        try:
            cfg = parse_config(_plain(hydra.compose(config.hydra.job.config_name, overrides=overrides)))
            check(cfg)
            stores.add((resolve_uri(cfg.tracking.uri), cfg.tracking.experiment, cfg.tracking.stale_after))
        except Exception as err:  # Hydra, OmegaConf (interpolations), pydantic, data and model errors alike
            reason = str(err) if isinstance(err, ConfigError | HydraException) else f"{type(err).__name__}: {err}"
            errors.append(f"job {' '.join(overrides) or '(no overrides)'}:\n{reason}")
    if errors:
        _fail(f"{len(errors)} of {len(jobs)} jobs have a bad config; nothing was run.\n" + "\n".join(errors))
    return stores


class SweepCallback(Callback):
    """Before any job of a sweep starts: compose and validate every job's config (a bad value
    anywhere stops the sweep before training), count the jobs for progress lines, and create
    the tracking store once (parallel jobs race on a fresh SQLite store)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _writable("hydra.run.dir", str(config.hydra.run.dir))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Hydra turns an exception raised here into a warning and runs the sweep anyway: every
        # failure is therefore an exit (SystemExit is not an Exception), never a fall-through.
        try:
            self._start(config)
        except Exception as err:
            _fail(f"the sweep could not be checked before it started, so nothing was run: {type(err).__name__}: {err}")

    def _start(self, config: DictConfig) -> None:
        _writable("hydra.sweep.dir", str(config.hydra.sweep.dir))
        jobs = sweep_jobs(config)
        stores = _check_jobs(config, jobs)
        for uri, experiment, stale_after in sorted(stores):
            try:
                _reap(uri, ensure_experiment(uri, experiment), stale_after)
            except ConfigError as err:
                _fail(str(err))
        os.environ[TOTAL_ENV] = str(len(jobs))
        os.environ[SWEEP_ENV] = str(config.hydra.sweep.dir)
        # Two sweeps started in the same second share Hydra's sweep folder: each keeps its own
        # results file there, so that its summary counts only its own jobs.
        os.environ[SWEEP_ID_ENV] = uuid.uuid4().hex[:12]
        print(f"annlab: sweep of {len(jobs)} jobs into {', '.join(sorted({s[0] for s in stores}))}", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        path = results_file(str(config.hydra.sweep.dir))
        outcomes = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        text, failed = sweep_summary(outcomes, int(os.environ.get(TOTAL_ENV, len(outcomes))))
        print(text, flush=True)
        if failed:
            raise SystemExit(1)


def job_meta(cfg: DictConfig, data: dict[str, Any]) -> JobMeta:
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    total = os.environ.get(TOTAL_ENV, "?") if multirun else "1"
    number = int(hc.job.num) + 1 if multirun else 1
    # A group a per-layer model switches off (null) has no choice to record.
    choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra") and v is not None}
    tags = {record.CHOICE + k: str(v) for k, v in choices.items()}
    tags[record.SWEEP] = os.environ.get(SWEEP_ENV, str(hc.sweep.dir)) if multirun else str(hc.run.dir)
    tags[record.JOB] = str(number)
    yaml = OmegaConf.to_yaml(OmegaConf.create(data))
    return JobMeta(tags=tags, label=f"job {number}/{total}", resolved=data, config_yaml=yaml, show_model=not multirun)


def results_file(sweep_dir: str) -> Path:
    """This sweep's results file in its folder: one line per job."""
    return Path(sweep_dir) / f"annlab_jobs-{os.environ.get(SWEEP_ID_ENV, 'sweep')}.jsonl"


def _record(outcome: dict[str, str]) -> None:
    """Append one job's outcome to the sweep's results file (one line: safe from parallel jobs)."""
    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN:
        path = results_file(str(hc.sweep.dir))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(json.dumps(outcome) + "\n")


def sweep_summary(outcomes: list[dict[str, str]], total: int) -> tuple[str, bool]:
    """The end-of-sweep lines, and whether any job failed."""
    counts = Counter(o["status"] for o in outcomes)
    order = ("FINISHED", "DIVERGED", "FAILED", "SKIPPED")
    parts = [f"{counts.get(k, 0)} {k.lower()}" for k in order]
    missing = total - len(outcomes)
    if missing > 0:
        parts.append(f"{missing} not run")
    lines = [f"annlab: sweep summary: {total} jobs: " + ", ".join(parts)]
    if counts.get("SKIPPED"):
        lines.append(
            f"annlab: skipped {counts['SKIPPED']} jobs already FINISHED in the store (resume=false reruns them)"
        )
    for o in outcomes:
        if o["status"] in ("FAILED", "DIVERGED"):
            lines.append(f"annlab:   {o['status']}: {o['name']}" + (f" ({o['error']})" if o.get("error") else ""))
    return "\n".join(lines), bool(counts.get("FAILED")) or missing > 0


@hydra.main(version_base="1.3", config_path=str(ROOT / "conf"), config_name="config")
def main(cfg: DictConfig) -> float | None:
    data = _plain(cfg)
    try:
        run_cfg: RunConfig = parse_config(data)
    except ConfigError as err:
        _fail(str(err))
    meta = job_meta(cfg, data)
    name = run_name(run_cfg)
    print(f"annlab: {meta.label} running {name}", flush=True)
    try:
        if HydraConfig.get().mode != RunMode.MULTIRUN:  # a sweep has reaped before its first job
            uri = resolve_uri(run_cfg.tracking.uri)
            _reap(uri, ensure_experiment(uri, run_cfg.tracking.experiment), run_cfg.tracking.stale_after)
        result = run_job(run_cfg, meta)
    except ConfigError as err:
        _fail(str(err))
    except (KeyboardInterrupt, Terminated) as err:  # run_job has ended the run KILLED; the sweep stops
        why = "Ctrl-C" if isinstance(err, KeyboardInterrupt) else f"SIGTERM ({err})"
        print(f"annlab: {meta.label} {name}: KILLED by {why}; the run is recorded KILLED; stopping", flush=True)
        _record({"name": name, "status": "KILLED", "error": why})
        raise SystemExit(130 if isinstance(err, KeyboardInterrupt) else 143) from None
    except Exception as err:  # run_job has ended the run FAILED, with its traceback as an artifact
        error = f"{type(err).__name__}: {err}"
        print(f"annlab: {meta.label} {name}: FAILED ({error}); the run is recorded FAILED", flush=True)
        _record({"name": name, "status": "FAILED", "error": error})
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            raise SystemExit(1) from None
        return None
    if result.status == "SKIPPED":
        print(f"annlab: {meta.label} {name}: skipped, already FINISHED as run {result.run_id}", flush=True)
    else:
        print(f"annlab: {meta.label} {result.line()}", flush=True)
    status = "DIVERGED" if result.diverged else result.status
    _record({"name": name, "status": status, "error": result.error})
    key = next((k for k in result.metrics if k.startswith("val/") and k != "val/loss"), None)
    return result.metrics.get(key) if key else None


if __name__ == "__main__":
    main()
