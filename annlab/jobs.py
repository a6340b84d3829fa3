"""One job from the command line or a sweep: its place, its progress lines, its run, its outcome."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from annlab import outcomes, record
from annlab.config import ConfigError, RunConfig, parse_config
from annlab.progress import sweep_eta
from annlab.record import resolve_uri

# torch, mlflow and pandas are imported when a job runs, not when a rejected config is reported.
if TYPE_CHECKING:
    from annlab.train.job import JobMeta, JobResult


# A worker process of hydra.launcher.n_jobs: the folder holding its stop file and process ids.
WORKERS_ENV = "ANNLAB_WORKERS"


def fail(message: str, status: int = 2) -> None:
    print(f"annlab: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)


def reap_stale(uri: str, experiment_id: str, stale_after: float) -> None:
    from annlab.train.reaper import reap

    for name in reap(uri, experiment_id, stale_after):
        print(f"annlab: ended run {name}, left RUNNING by a process that is gone (tag annlab.error says why)")


@dataclass(frozen=True)
class JobPlace:
    """Where a job stands: in a sweep or alone, its number, the folder of its run or sweep, and
    the config-group options it was composed from (Hydra's runtime.choices)."""

    multirun: bool
    number: int
    total: str
    folder: str
    choices: dict[str, str]


def choices_of(choices: Any) -> dict[str, str]:
    """The config-group options of a job (a group a per-layer model switches off, null, has none)."""
    return {str(k): str(v) for k, v in choices.items() if not str(k).startswith("hydra") and v is not None}


def job_meta(place: JobPlace, data: dict[str, Any], extra: dict[str, str] | None = None) -> JobMeta:
    from annlab.train.job import JobMeta

    tags = {record.CHOICE + k: v for k, v in place.choices.items()} | (extra or {})
    tags[record.SWEEP] = place.folder
    tags[record.JOB] = str(place.number)
    yaml = to_yaml(data)
    label = f"job {place.number}/{place.total}"
    return JobMeta(tags=tags, label=label, resolved=data, config_yaml=yaml, show_model=not place.multirun)


def to_yaml(data: dict[str, Any]) -> str:
    """The job's config as YAML, keys in config order (libyaml's emitter where installed: the
    pure-Python one took a few ms a job)."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _record(outcome: dict[str, str], place: JobPlace) -> None:
    """Append one job's outcome to the sweep's results file; a cluster job adds its SLURM job id
    and log (the launcher then knows it reported, and the summary points at the log)."""
    if place.multirun:
        outcomes.append(place.folder, {**outcome, **_cluster_job()})


def _bad_here(error: str, name: str, place: JobPlace) -> None:
    """A config refused where the job runs: alone, the bad-input exit; in a sweep (which checked
    every job where it started) it is this place that differs (a user's module that does not
    import on a worker or node): the job fails alone, saying why, and the sweep goes on."""
    if not place.multirun:
        fail(error)
    error = f"ConfigError where the job ran: {error}"
    print(f"annlab: job {place.number}/{place.total} {name}: FAILED ({error})", flush=True)
    _record({"name": name, "status": "FAILED", "error": error}, place)
    return None


def _cluster_job() -> dict[str, str]:
    """The SLURM job id and log of this job when a submitit launcher started it, else nothing."""
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return {}
    import submitit

    env = submitit.JobEnvironment()
    return {"cluster_job": str(env.job_id), "log": str(env.paths.stdout)}


def _eta(place: JobPlace) -> str:
    """How far the sweep is (jobs done of all, the time left), read from its results file, which
    every job of it appends to, in this process or another."""
    if not place.multirun or not place.total.isdigit():
        return ""
    return sweep_eta(outcomes.count(place.folder), int(place.total))


def run_one(data: dict[str, Any], place: JobPlace) -> float | None:
    """Run one job from its config (plain data, resolved) and record its outcome; the sweep's
    objective (the first validation score), None when there is none."""
    try:
        run_cfg: RunConfig = parse_config(data)
    except ConfigError as err:
        return _bad_here(str(err), f"job {place.number}", place)
    from annlab.naming import run_name
    from annlab.train.experiments import ensure_experiment
    from annlab.train.job import Terminated, run_job

    meta = job_meta(place, data)
    name = run_name(run_cfg)
    print(f"annlab: {meta.label} running {name}", flush=True)
    try:
        if not place.multirun:  # a sweep has reaped before its first job
            uri = resolve_uri(run_cfg.tracking.uri)
            reap_stale(uri, ensure_experiment(uri, run_cfg.tracking.experiment), run_cfg.tracking.stale_after)
        result = run_job(run_cfg, meta)
    except ConfigError as err:
        return _bad_here(str(err), name, place)
    except (KeyboardInterrupt, Terminated) as err:  # run_job has ended the run KILLED; the sweep stops
        _killed(err, [(meta.label, name, place)])
        return None
    except Exception as err:  # run_job has ended the run FAILED, with its traceback as an artifact
        error = f"{type(err).__name__}: {err}"
        print(f"annlab: {meta.label} {name}: FAILED ({error}); the run is recorded FAILED", flush=True)
        _record({"name": name, "status": "FAILED", "error": error}, place)
        if not place.multirun:
            raise SystemExit(1) from None
        return None
    return _done(result, meta.label, name, place)


def _done(result: JobResult, label: str, name: str, place: JobPlace) -> float | None:
    """A job's outcome recorded and printed; its objective (the first validation score)."""
    if result.status == "FAILED":  # a member of a group that failed alone; its run says why
        print(f"annlab: {label} {name}: FAILED ({result.error}); the run is recorded FAILED", flush=True)
        _record({"name": name, "status": "FAILED", "error": result.error}, place)
        return None
    status = "DIVERGED" if result.diverged else result.status
    seconds = {"train_s": result.train_seconds, "job_s": result.seconds, "mlflow_s": result.logging_seconds}
    outcome = {"name": name, "status": status, "error": result.error, **{k: f"{v:.4f}" for k, v in seconds.items()}}
    _record(outcome, place)
    eta = _eta(place)
    if result.status == "SKIPPED":
        print(f"annlab: {label} {name}: skipped, already FINISHED as run {result.run_id}{eta}", flush=True)
    else:
        print(f"annlab: {label} {result.line()}{eta}", flush=True)
    key = next((k for k in result.metrics if k.startswith("val/") and k != "val/loss"), None)
    return result.metrics.get(key) if key else None


def _killed(err: BaseException, jobs: Sequence[tuple[str, str, JobPlace]], stops: bool = True) -> None:
    """Ctrl-C or SIGTERM: the runs are recorded KILLED (by the job layer), the outcomes here;
    the sweep stops, except for one cluster job of many (scancel), after which the sweep goes
    on, and in a worker process (`stops` false), whose sweep stops itself."""
    why = "Ctrl-C" if isinstance(err, KeyboardInterrupt) else f"SIGTERM ({err})"
    for label, name, place in jobs:
        print(f"annlab: {label} {name}: KILLED by {why}; the run is recorded KILLED; stopping", flush=True)
        _record({"name": name, "status": "KILLED", "error": why}, place)
    if os.environ.get("SUBMITIT_EXECUTOR") or not stops:
        return
    raise SystemExit(130 if isinstance(err, KeyboardInterrupt) else 143) from None


def run_grouped(
    data: Sequence[dict[str, Any]], places: Sequence[JobPlace], size: int, n_jobs: int = 1
) -> list[float | None]:
    """hydra/launcher=vectorized: the sweep's jobs (checked configs, plain data) in groups of at
    most `size` that share their shapes (annlab.train.grouping), each group trained at once
    (annlab.train.job.run_group), each job still its own run, outcome and line; with `n_jobs`
    above 1, groups train side by side in that many worker processes (joblib). The jobs'
    objectives in their order."""
    from annlab.train.grouping import groups

    cfgs: dict[int, RunConfig] = {}
    for k, (plain, place) in enumerate(zip(data, places, strict=True)):
        try:
            cfgs[k] = parse_config(plain)
        except ConfigError as err:
            _bad_here(str(err), f"job {place.number}", place)
    order = list(cfgs)
    batches = [[order[i] for i in batch] for batch in groups([cfgs[k] for k in order], size)]
    work = [
        ([data[k] for k in batch], [places[k] for k in batch], f"{g}/{len(batches)}")
        for g, batch in enumerate(batches, start=1)
    ]
    if n_jobs > 1 and len(work) > 1:
        done = _side_by_side(work, n_jobs, places[0].folder)
    else:
        done = [_train_batch(*item) for item in work]
    objectives: list[float | None] = [None] * len(data)
    for batch, values in zip(batches, done, strict=True):
        for k, value in zip(batch, values, strict=True):
            objectives[k] = value
    return objectives


CTRL_C = "Ctrl-C"


def _side_by_side(work: list[Any], n_jobs: int, folder: str) -> list[list[float | None]]:
    """The groups of `work` trained in `n_jobs` joblib worker processes. SIGTERM or Ctrl-C to
    this process (a terminal's Ctrl-C signals the workers too, which ignore it) is passed on to
    the workers as a request to stop at their next step (their runs end KILLED, as in this
    process), and no further group starts; then the sweep stops (exit 143, or 130 for Ctrl-C)."""
    import shutil
    import signal
    from pathlib import Path

    from joblib import Parallel, delayed

    control = Path(folder) / f"annlab_workers-{os.environ.get(outcomes.SWEEP_ID_ENV, 'sweep')}"
    control.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k.startswith("ANNLAB_")} | {WORKERS_ENV: str(control)}

    def pass_on(signum: int, frame: object) -> None:
        (control / "stop").write_text(CTRL_C if signum == signal.SIGINT else "SIGTERM")
        for pid in control.glob("*.pid"):
            with contextlib.suppress(ProcessLookupError, ValueError):  # a worker that has ended
                os.kill(int(pid.stem), signal.SIGTERM)

    previous = {sig: signal.signal(sig, pass_on) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        done = Parallel(n_jobs=n_jobs)(delayed(_train_batch)(*item, env) for item in work)
        cause = (control / "stop").read_text() if (control / "stop").exists() else None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(control, ignore_errors=True)
    if cause is not None:
        print(f"annlab: {cause}: the workers' runs are recorded KILLED; stopping", flush=True)
        raise SystemExit(130 if cause == CTRL_C else 143)
    return done


def _train_batch(
    data: Sequence[dict[str, Any]], places: Sequence[JobPlace], group: str, env: dict[str, str] | None = None
) -> list[float | None]:
    """One group trained (here, or in a worker process, which gets the sweep's environment and
    its control folder: a stop file, and this process's id for SIGTERM): its jobs' lines, runs
    and outcomes; their objectives."""
    from pathlib import Path

    from annlab.naming import run_name
    from annlab.train.job import Terminated, run_group

    os.environ.update(env or {})
    stop = Path(env[WORKERS_ENV]) / "stop" if env else None
    if stop is not None:
        import signal

        # A terminal's Ctrl-C reaches every process of the group; the sweep passes it on as a
        # stop request, honoured between steps (a KeyboardInterrupt could land inside a write).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if stop.exists():  # the sweep was stopped before this group began
            return [None] * len(data)
        (stop.parent / f"{os.getpid()}.pid").touch()
    # Parsed again here (the sweep parsed them to group them): in a worker, parsing is what
    # registers a user's parts by their short names.
    cfgs = [parse_config(plain) for plain in data]
    tags = {record.GROUP: group, record.GROUP_SIZE: str(len(cfgs))}
    metas = [job_meta(place, plain, tags) for place, plain in zip(places, data, strict=True)]
    names = [run_name(cfg) for cfg in cfgs]
    for meta, name in zip(metas, names, strict=True):
        jobs = f"{len(cfgs)} job{'s' * (len(cfgs) != 1)}"
        print(f"annlab: {meta.label} running {name} (group {group}, {jobs})", flush=True)
    try:
        results = run_group(list(zip(cfgs, metas, strict=True)), label=f"group {group}")
    except (KeyboardInterrupt, Terminated) as err:
        # the sweep's Ctrl-C, passed on as a stop request, is said as Ctrl-C
        why = KeyboardInterrupt() if stop and stop.exists() and stop.read_text() == CTRL_C else err
        _killed(why, [(m.label, n, p) for m, n, p in zip(metas, names, places, strict=True)], stops=not env)
        return [None] * len(cfgs)
    return [_done(r, m.label, n, p) for r, m, n, p in zip(results, metas, names, places, strict=True)]
