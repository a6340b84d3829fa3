"""hydra/sweeper=annlab (annlab's default): every job's config composed once, checked, then run.

Hydra's basic sweeper composes every job to validate it, annlab's pre-check composed it again
and the basic launcher a third time; at ~0.1 s a composition that was most of a small job's
cost. Here the sweep is expanded by Hydra's own basic sweeper code, and each job's overrides are
split as Hydra's defaults list splits them: what shapes the composition (config-group choices,
anything of Hydra's own config, an override with a package) is composed by Hydra, once per
distinct set; the rest are config overrides (`model.depth=5`, `+a.b=1`, `~key`), which Hydra
applies to the composed config afterwards, and which are applied here by that same Hydra code
(`ConfigLoaderImpl._apply_overrides_to_config`) to a copy of the composition. Whatever the
split cannot prove a plain config override is left to Hydra's composition of that job.
tests/test_sweeper_differential.py compares the result with Hydra's own composition, job by job.
With the default launcher the jobs then run in this process from those checked configs, straight
into annlab's job function, and with hydra/launcher=vectorized into its group trainer (see
`runs_here` for when Hydra's own per-job machinery is kept); any other launcher (joblib, slurm)
gets the override lists, and its workers compose again.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from annlab.outcomes import SWEEP_ENV

log = logging.getLogger(__name__)

IN_PROCESS = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
VECTORIZED = "hydra_plugins.annlab_launchers.vectorized_launcher.VectorizedLauncher"
# annlab's own callback (conf/config.yaml): what it does per job, annlab's loop does itself.
ANNLAB_CALLBACK = "annlab.run.SweepCallback"


class Composer:
    """Job configs from one Hydra composition per distinct set of overrides that shape it."""

    def __init__(self, loader: ConfigLoaderImpl, master: DictConfig):
        self.loader, self.master = loader, master
        self.parser = OverridesParser.create(config_loader=loader)
        # shaping override lines -> (the composition without its hydra node, its hydra node)
        self.bases: dict[tuple[str, ...], tuple[DictConfig, DictConfig]] = {}
        self._repos: dict[tuple[str, ...], Any] = {}  # Hydra override lines -> Hydra's config repository

    def _is_group(self, hydra_lines: tuple[str, ...], key: str) -> bool:
        """Whether Hydra's repository, with the search path this composition has (the primary
        config's hydra.searchpath and any override of it), knows `key` as a config group."""
        if hydra_lines not in self._repos:
            lines = list(self.master.hydra.overrides.hydra) + list(hydra_lines)
            name = self.master.hydra.job.config_name
            self._repos[hydra_lines] = self.loader._parse_overrides_and_create_caching_repo(name, lines)[1]
        return bool(self._repos[hydra_lines].group_exists(key))

    def shapes(self, override: Override, hydra_lines: tuple[str, ...]) -> bool:
        """Whether `override` shapes the composition: anything of Hydra's own config, an override
        with a package, and a config-group choice as Hydra's defaults list tells one (a group its
        repository knows, unless the value is a dict: Hydra applies that as a config override).
        Everything else is a config override, applied after composing, as Hydra does."""
        if override.is_hydra_override() or override.package is not None:
            return True
        return not isinstance(override.value(), dict) and self._is_group(hydra_lines, override.key_or_group)

    def compose(self, job: list[str]) -> tuple[DictConfig, DictConfig]:
        """The job's config without Hydra's node, and the Hydra node of its composition (shared
        by every job with the same shaping overrides: its runtime.choices, job settings, callbacks;
        its overrides.task and job.override_dirname list only those overrides)."""
        parsed = self.parser.parse_overrides(job)
        hydra_lines = tuple(o.input_line or "" for o in parsed if o.is_hydra_override())
        shaping = [self.shapes(o, hydra_lines) for o in parsed]
        key = tuple(o.input_line or "" for o, s in zip(parsed, shaping, strict=True) if s)
        if key not in self.bases:
            full = self.loader.load_sweep_config(self.master, list(key))
            with open_dict(full):
                node = full.pop("hydra")
            self.bases[key] = (full, node)
        base, node = self.bases[key]
        cfg = copy.deepcopy(base)
        ConfigLoaderImpl._apply_overrides_to_config([o for o, s in zip(parsed, shaping, strict=True) if not s], cfg)
        return cfg, node


def runs_here(config: DictConfig, nodes: Sequence[DictConfig]) -> bool:
    """Whether annlab can run the jobs itself, without Hydra's per-job machinery (a Hydra config
    per job, its output folder, logging set up again, callbacks): with the in-process launcher
    or the vectorized one,
    when no job changes its working folder or sets environment variables (hydra.job.env_set: its
    config would resolve differently) and no callback but annlab's own (told by its _target_)
    waits for each job. Otherwise Hydra's launcher runs them. (Hydra's per-job values,
    `${hydra:job.num}`, cannot be in a job's config: the pre-check, which resolves every config,
    refuses them.)"""
    if config.hydra.launcher.get("_target_") not in (IN_PROCESS, VECTORIZED):
        return False
    for node in {id(n): n for n in nodes}.values():
        callbacks = (node.callbacks or {}).values()
        if node.job.chdir or node.job.env_set or any(c.get("_target_") != ANNLAB_CALLBACK for c in callbacks):
            return False
    return True


class AnnlabSweeper(Sweeper):
    """Expand the sweep, compose every job once, let annlab check them all, then run them."""

    def __init__(self, params: dict[str, str] | None = None):
        self.params = dict(params or {})
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def jobs(self, arguments: list[str]) -> list[list[str]]:
        """Every job's override list: hydra.sweeper.params, then the command line, expanded as
        Hydra's basic sweeper expands them."""
        from annlab import run

        assert self.hydra_context is not None
        lines = [f"{k}={v}" for k, v in self.params.items()] + list(arguments)
        return run.expand(lines, self.hydra_context.config_loader)

    def sweep(self, arguments: list[str]) -> Any:
        from annlab import run

        assert self.config is not None and self.hydra_context is not None
        loader = self.hydra_context.config_loader
        try:
            jobs = self.jobs(arguments)
        except HydraException as err:  # what Hydra's sweeper cannot sweep (interval): its words, its exit status
            run.fail(f"{err}; nothing was run", status=1)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        composer = Composer(loader, self.config)  # type: ignore[arg-type]
        nodes: list[DictConfig] = []  # each job's Hydra node, in order (the pre-check composes them all)

        def compose(job: list[str]) -> DictConfig:
            cfg, node = composer.compose(job)
            nodes.append(node)
            return cfg

        data = run.check_sweep(self.config, jobs, compose)  # exits before any training on a bad job
        if not runs_here(self.config, nodes):
            return [self.launcher.launch(jobs, initial_job_idx=0)]
        if self.config.hydra.launcher.get("_target_") == VECTORIZED:  # the checked configs, grouped
            from hydra_plugins.annlab_launchers.vectorized_launcher import run_groups

            self._log_setup()
            launcher = self.config.hydra.launcher
            return [run_groups(jobs, data, nodes, int(launcher.group_size), int(launcher.get("n_jobs", 1)))]
        return [self._run_here(jobs, data, nodes)]

    def _log_setup(self) -> None:
        assert self.config is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)

    def _run_here(
        self, jobs: Sequence[list[str]], data: Sequence[dict[str, Any]], nodes: Sequence[DictConfig]
    ) -> list[JobReturn]:
        """Hydra's basic launcher's loop without its per-job cost (a deep copy of the config and of
        Hydra's node, logging set up twice: ~40 ms a job): each job's checked config goes
        straight to annlab's job function, with its place in the sweep."""
        from annlab import jobs as annlab_jobs

        self._log_setup()
        folder, total = os.environ[SWEEP_ENV], str(len(jobs))
        returns = []
        for idx, (job, plain, node) in enumerate(zip(jobs, data, nodes, strict=True)):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(job))}")
            place = annlab_jobs.JobPlace(True, idx + 1, total, folder, annlab_jobs.choices_of(node.runtime.choices))
            ret = JobReturn(overrides=job, working_dir=os.getcwd(), task_name=str(node.job.name))
            try:
                ret.return_value = annlab_jobs.run_one(plain, place)
                ret.status = JobStatus.COMPLETED
            except Exception as err:  # as Hydra's run_job: the sweep goes on, the error is re-raised at its end
                ret.return_value, ret.status = err, JobStatus.FAILED
            returns.append(ret)
        for ret in returns:
            _ = ret.return_value  # re-raises a job's exception, as Hydra's sweeper does
        return returns
