"""Hydra entry point: `python -m annlab.run [-m] key=value ...`; the only module that sees Hydra."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from annlab import outcomes
from annlab.config import ConfigError, RunConfig, parse_config
from annlab.jobs import JobPlace, choices_of, fail, reap_stale, run_one
from annlab.outcomes import SWEEP_ENV, SWEEP_ID_ENV, SWEEP_START_ENV, TOTAL_ENV, sweep_summary
from annlab.parts import LAUNCH_DIR_ENV
from annlab.paths import ROOT
from annlab.record import resolve_uri

# torch, mlflow, pandas and scikit-learn are imported where a job needs them, not here: `--help`
# and a rejected config never pay for them (tests/test_startup.py).

# conf/config.yaml puts ROOT on Hydra's search path, so that the studies in experiments/
# compose as the config group `experiments` from any working directory.
os.environ.setdefault("ANNLAB_ROOT", str(ROOT))
# The folder a user launches from is importable (their own activations, inits and datasets by
# `_target_`), for `python -m annlab.run` and `annlab-run` alike, and in joblib and SLURM workers.
os.environ.setdefault(LAUNCH_DIR_ENV, os.getcwd())
ANNLAB_PLUGINS = "hydra_plugins.annlab_launchers."


def _plain(cfg: DictConfig) -> dict[str, Any]:
    """The job's config as plain data, resolved, without the hydra node (not resolved either: a
    sweep's job number is set only when the job runs)."""
    return {
        str(k): OmegaConf.to_container(cfg[k], resolve=True) if OmegaConf.is_config(cfg[k]) else cfg[k]
        for k in cfg
        if k != "hydra"
    }


def compose_config(overrides: list[str] | None = None) -> RunConfig:
    """The typed config of one job, composed from conf/ as the CLI would (for scripts and
    notebooks: `compose_config(["activation=tanh", "model.depth=5"])`)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return parse_config(_plain(compose("config", overrides=overrides or [])))


def _writable(key: str, folder: str) -> None:
    """Fail with the key and folder, not a traceback, when Hydra's output folder cannot be made."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        fail(f"{key}={folder}: cannot write the output folder: {err.strerror or err}")


def expand(lines: list[str], loader: Any = None) -> list[list[str]]:
    """Every job's override list, as Hydra's own basic sweeper expands `lines` (the product of the
    sweeps, a later override of a key replacing an earlier one: command line over study params);
    Hydra's own error for what it cannot sweep (`interval(...)`). `loader` (Hydra's config loader)
    lets `glob(...)` see a group's options."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    return BasicSweeper.split_arguments(OverridesParser.create(config_loader=loader).parse_overrides(lines), None)[0]


def sweep_jobs(config: DictConfig) -> list[list[str]]:
    """The override list of every job of the sweep `config` describes (hydra.sweeper.params
    first, then the command line), for a sweeper other than annlab's own."""
    from hydra.core.global_hydra import GlobalHydra

    params = config.hydra.sweeper.get("params") or {}
    arguments = [f"{k}={v}" for k, v in params.items()] + list(config.hydra.overrides.task)
    return expand(arguments, GlobalHydra.instance().config_loader())


def _check_jobs(
    jobs: list[list[str]], compose: Callable[[list[str]], DictConfig]
) -> tuple[list[dict[str, Any]], set[tuple[str, str, float]]]:
    """Compose (with `compose`) and validate every job; their configs (plain data, resolved), and
    the (store, experiment) pairs they log to. Any error of any kind stops the sweep here: the
    pre-check never fails open."""
    from annlab.train.setup import check

    errors, stores, composed, hydras = [], set(), [], 0
    for overrides in jobs:
        try:
            composed.append(_plain(compose(overrides)))
            cfg = parse_config(composed[-1])
            check(cfg)
            stores.add((resolve_uri(cfg.tracking.uri), cfg.tracking.experiment, cfg.tracking.stale_after))
        except Exception as err:  # Hydra, OmegaConf (interpolations), pydantic, data and model errors alike
            reason = str(err) if isinstance(err, ConfigError | HydraException) else f"{type(err).__name__}: {err}"
            if "HydraConfig was not set" in reason:  # OmegaConf's words for a ${hydra:...} it cannot resolve
                reason = f"a sweep's job config cannot use Hydra's per-job values (${{hydra:...}}): {reason}"
            errors.append(f"job {' '.join(overrides) or '(no overrides)'}:\n{reason}")
            hydras += isinstance(err, HydraException)
    if errors:
        # Hydra's own errors (composition) exit 1, as they do for a single job; annlab's exit 2.
        why = f"{len(errors)} of {len(jobs)} jobs have a bad config; nothing was run.\n" + "\n".join(errors)
        fail(why, status=1 if hydras else 2)
    return composed, stores


def check_sweep(
    config: DictConfig, jobs: list[list[str]], compose: Callable[[list[str]], DictConfig]
) -> list[dict[str, Any]]:
    """Before any job of a sweep starts: compose and validate every job's config (a bad value
    anywhere stops the sweep before training), create each tracking store once (parallel jobs
    race on a fresh SQLite store) and end runs left RUNNING by a process that is gone, count
    the jobs for progress lines. Returns the jobs' configs (plain data, resolved)."""
    from annlab.train import resume
    from annlab.train.experiments import ensure_experiment

    try:
        composed, stores = _check_jobs(jobs, compose)
        experiments = []
        for uri, experiment, stale_after in sorted(stores):
            experiment_id = ensure_experiment(uri, experiment)
            reap_stale(uri, experiment_id, stale_after)
            experiments.append((uri, experiment_id))
        resume.sweep_begins(experiments)
    except ConfigError as err:
        fail(str(err))
    except Exception as err:  # never fall through to training unchecked
        fail(f"the sweep could not be checked before it started, so nothing was run: {type(err).__name__}: {err}")
    os.environ[TOTAL_ENV] = str(len(jobs))
    os.environ[SWEEP_ENV] = str(config.hydra.sweep.dir)
    # Two sweeps started in the same second share Hydra's sweep folder: each keeps its own
    # results file there, so that its summary counts only its own jobs.
    os.environ[SWEEP_ID_ENV] = uuid.uuid4().hex[:12]
    os.environ[SWEEP_START_ENV] = str(time.time())
    print(f"annlab: sweep of {len(jobs)} jobs into {', '.join(sorted({s[0] for s in stores}))}", flush=True)
    return composed


def _register_plugins(config: DictConfig) -> None:
    """Make annlab's own sweeper and launcher (conf/hydra/) known to Hydra: its plugin scan does
    not see the hydra_plugins folder of an editable install, so they are registered by hand."""
    from importlib import import_module

    from hydra.core.plugins import Plugins

    for node in (config.hydra.sweeper, config.hydra.launcher):
        target = str(node.get("_target_", ""))
        if target.startswith(ANNLAB_PLUGINS):
            module, name = target.rsplit(".", 1)
            Plugins.instance().register(getattr(import_module(module), name))


class SweepCallback(Callback):
    """Around a sweep: annlab's plugins registered and the output folder checked before it; with
    any sweeper but annlab's own (which checks the jobs it composes), the pre-check of every job;
    after it, the end-of-sweep summary."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _writable("hydra.run.dir", str(config.hydra.run.dir))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Hydra turns an exception raised here into a warning and runs the sweep anyway: every
        # failure is therefore an exit (SystemExit is not an Exception), never a fall-through.
        try:
            _writable("hydra.sweep.dir", str(config.hydra.sweep.dir))
            _register_plugins(config)
        except Exception as err:
            fail(f"the sweep could not be checked before it started, so nothing was run: {type(err).__name__}: {err}")
        if not str(config.hydra.sweeper.get("_target_", "")).startswith(ANNLAB_PLUGINS):
            name = config.hydra.job.config_name
            check_sweep(config, sweep_jobs(config), lambda job: hydra.compose(name, overrides=job))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from annlab.train import resume

        resume.sweep_ends()
        done = outcomes.read(str(config.hydra.sweep.dir))
        text, failed = sweep_summary(done, int(os.environ.get(TOTAL_ENV, len(done))))
        print(text, flush=True)
        if failed:
            raise SystemExit(1)


@hydra.main(version_base="1.3", config_path=str(ROOT / "conf"), config_name="config")
def main(cfg: DictConfig) -> float | None:
    return run_one(_plain(cfg), _place())


def _place() -> JobPlace:
    """The place of the job Hydra is running now (its HydraConfig)."""
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return JobPlace(False, 1, "1", str(hc.run.dir), choices_of(hc.runtime.choices))
    folder = os.environ.get(SWEEP_ENV, str(hc.sweep.dir))
    return JobPlace(True, int(hc.job.num) + 1, os.environ.get(TOTAL_ENV, "?"), folder, choices_of(hc.runtime.choices))


def help_page(overrides: list[str]) -> str:
    """`--help`: conf/config.yaml's hydra.help.template, filled in as Hydra would ($APP_CONFIG_GROUPS,
    $CONFIG). Rendered here because Hydra's own help also lists its internal groups, deep-copying
    its config repository ~90 times (1.5 s, twice the whole start-up); `--hydra-help` is Hydra's."""
    import yaml

    template = yaml.safe_load((ROOT / "conf" / "config.yaml").read_text())["hydra"]["help"]["template"]
    groups = []
    for folder in sorted(p for p in (ROOT / "conf").iterdir() if p.is_dir() and p.name != "hydra"):
        groups.append(f"{folder.name}: {', '.join(sorted(f.stem for f in folder.glob('*.yaml')))}")
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        config = OmegaConf.to_yaml(OmegaConf.create(_plain(compose("config", overrides=overrides))))
    return template.replace("$APP_CONFIG_GROUPS", "\n".join(groups) + "\n").replace("$CONFIG", config)


def cli() -> None:
    """The command line (`python -m annlab.run`, `annlab-run`): annlab's help page, or Hydra's app."""
    if "--help" in sys.argv[1:] or "-h" in sys.argv[1:]:
        print(help_page([a for a in sys.argv[1:] if "=" in a and not a.startswith("-")]))
        return
    main()


if __name__ == "__main__":
    cli()
