"""hydra/sweeper=annlab (annlab's default): every job's config composed once, checked, then run.

Hydra's basic sweeper composes every job to validate it, annlab's pre-check composed it again
and the basic launcher a third time; at ~0.15 s a composition that was most of a small job's
cost. Here each distinct combination of config-group choices is composed once by Hydra and each
job's value overrides (`model.depth=5`, `seed=1`) are applied to a copy of it, as Hydra applies
them after composing (tests/test_sweeper.py checks the result equals Hydra's own, job by job).
With the default launcher the jobs then run in this process from those checked configs, straight
into annlab's job function (see `runs_here` for when Hydra's own per-job machinery is kept); any
other launcher (joblib, slurm) gets the override lists, and its workers compose again.
"""

from __future__ import annotations

import copy
import itertools
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.errors import ConfigCompositionException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from annlab.outcomes import SWEEP_ENV

log = logging.getLogger(__name__)

IN_PROCESS = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
# annlab's own callback (conf/config.yaml): what it does per job, annlab's loop does itself.
ANNLAB_CALLBACK = "annlab.run.SweepCallback"


def expand(overrides: list[Override]) -> list[list[str]]:
    """Every job's override list, as Hydra's basic sweeper expands them: the product of the
    sweeps, a later override of a key replacing an earlier one (command line over study params)."""
    by_key: dict[str, list[str]] = {}
    for override in overrides:
        key = override.get_key_element()
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                raise ConfigCompositionException(f"{key}: only lists and ranges can be swept, not intervals")
            by_key[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            by_key[key] = [f"{key}={override.get_value_element_as_str()}"]
    return [list(job) for job in itertools.product(*by_key.values())]


_ABSENT = object()  # what OmegaConf.select returns for a key the config does not have


def apply_values(cfg: DictConfig, overrides: list[Override]) -> None:
    """Apply value overrides (`key=v`, `+key=v`, `++key=v`, `~key`) as Hydra does after composing."""
    for o in overrides:
        key = o.key_or_group
        present = OmegaConf.select(cfg, key, throw_on_missing=False, default=_ABSENT) is not _ABSENT
        if o.is_delete():
            if not present:
                raise ConfigCompositionException(f"Could not delete from config. '{key}' does not exist.")
            parent, _, leaf = key.rpartition(".")
            node = OmegaConf.select(cfg, parent) if parent else cfg
            with open_dict(node):
                del node[leaf]
        elif o.is_add() and present:
            raise ConfigCompositionException(
                f"Could not append to config. An item is already at '{key}'.\n"
                f"Either remove + prefix: '{o.input_line[1:]}'\n"
                f"Or add a second + to add or override '{key}': '+{o.input_line}'"
            )
        elif not o.is_add() and not o.is_force_add() and not present:
            raise ConfigCompositionException(
                f"Could not override '{key}'.\nTo append to your config use +{o.input_line}\n"
                f"Key '{key}' is not in struct"
            )
        else:
            OmegaConf.update(cfg, key, o.value(), merge=True, force_add=o.is_add() or o.is_force_add())


class Composer:
    """Job configs from one Hydra composition per distinct set of config-group choices."""

    def __init__(self, hydra_context: HydraContext, master: DictConfig, groups: set[str]):
        self.loader, self.master, self.groups = hydra_context.config_loader, master, groups
        self.parser = OverridesParser.create(config_loader=hydra_context.config_loader)
        # group choices -> (the composition without its hydra node, its hydra node)
        self.bases: dict[tuple[str, ...], tuple[DictConfig, DictConfig]] = {}

    def composed_by_hydra(self, override: Override) -> bool:
        """Config-group choices, and anything of Hydra's own config: these shape the composition."""
        key = override.key_or_group
        return "/" in key or key.startswith("hydra") or (key.split("@")[0] in self.groups and "." not in key)

    def compose(self, job: list[str]) -> tuple[DictConfig, DictConfig]:
        """The job's config without Hydra's node, and the Hydra node of its composition (shared
        by every job with the same group choices: its runtime.choices, job settings, callbacks)."""
        parsed = self.parser.parse_overrides(job)
        by_hydra = tuple(o.input_line for o in parsed if self.composed_by_hydra(o))
        if by_hydra not in self.bases:
            full = self.loader.load_sweep_config(self.master, list(by_hydra))
            with open_dict(full):
                node = full.pop("hydra")
            self.bases[by_hydra] = (full, node)
        base, node = self.bases[by_hydra]
        cfg = copy.deepcopy(base)
        apply_values(cfg, [o for o in parsed if not self.composed_by_hydra(o)])
        return cfg, node


def runs_here(config: DictConfig, nodes: Sequence[DictConfig]) -> bool:
    """Whether annlab can run the jobs itself, without Hydra's per-job machinery (a Hydra config
    per job, its output folder, logging set up again, callbacks): with the in-process launcher,
    when no job changes its working folder or sets environment variables (hydra.job.env_set: its
    config would resolve differently) and no callback but annlab's own (told by its _target_)
    waits for each job. Otherwise Hydra's launcher runs them. (Hydra's per-job values,
    `${hydra:job.num}`, cannot be in a job's config: the pre-check, which resolves every config,
    refuses them.)"""
    if config.hydra.launcher.get("_target_") != IN_PROCESS:
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

    def sweep(self, arguments: list[str]) -> Any:
        from annlab import run

        assert self.config is not None and self.hydra_context is not None
        lines = [f"{k}={v}" for k, v in self.params.items()] + list(arguments)
        jobs = expand(OverridesParser.create(config_loader=self.hydra_context.config_loader).parse_overrides(lines))
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        composer = Composer(self.hydra_context, self.config, run.config_groups())
        nodes: list[DictConfig] = []  # each job's Hydra node, in order (the pre-check composes them all)

        def compose(job: list[str]) -> DictConfig:
            cfg, node = composer.compose(job)
            nodes.append(node)
            return cfg

        data = run.check_sweep(self.config, jobs, compose)  # exits before any training on a bad job
        if not runs_here(self.config, nodes):
            return [self.launcher.launch(jobs, initial_job_idx=0)]
        return [self._run_here(jobs, data, nodes)]

    def _run_here(
        self, jobs: Sequence[list[str]], data: Sequence[dict[str, Any]], nodes: Sequence[DictConfig]
    ) -> list[JobReturn]:
        """Hydra's basic launcher's loop without its per-job cost (a deep copy of the config and of
        Hydra's node, logging set up twice: ~40 ms a job): each job's checked config goes
        straight to annlab's job function, with its place in the sweep."""
        from annlab import jobs as annlab_jobs

        assert self.config is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
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
