"""hydra/sweeper=annlab (annlab's default): every job's config composed once, checked, then run.

Hydra's basic sweeper composes every job to validate it, annlab's pre-check composed it again
and the basic launcher a third time; at ~0.15 s a composition that was most of a small job's
cost. Here each distinct combination of config-group choices is composed once by Hydra and each
job's value overrides (`model.depth=5`, `seed=1`) are applied to a copy of it, as Hydra applies
them after composing (tests/test_sweeper.py checks the result equals Hydra's own, job by job).
With the default launcher the jobs then run in this process from those configs; any other
launcher (joblib, slurm) gets the override lists, and its workers compose again.
"""

from __future__ import annotations

import copy
import itertools
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.errors import ConfigCompositionException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)

IN_PROCESS = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


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
        self.bases: dict[tuple[str, ...], DictConfig] = {}

    def composed_by_hydra(self, override: Override) -> bool:
        """Config-group choices, and anything of Hydra's own config: these shape the composition."""
        key = override.key_or_group
        return "/" in key or key.startswith("hydra") or (key.split("@")[0] in self.groups and "." not in key)

    def compose(self, job: list[str]) -> DictConfig:
        parsed = self.parser.parse_overrides(job)
        by_hydra = tuple(o.input_line for o in parsed if self.composed_by_hydra(o))
        if by_hydra not in self.bases:
            self.bases[by_hydra] = self.loader.load_sweep_config(self.master, list(by_hydra))
        cfg = copy.deepcopy(self.bases[by_hydra])
        task = [o for o in parsed if not o.key_or_group.startswith("hydra")]
        with open_dict(cfg.hydra):
            cfg.hydra.overrides.task = [o.input_line for o in task]
            cfg.hydra.job.override_dirname = override_dirname(task, cfg.hydra.job.config.override_dirname)
        apply_values(cfg, [o for o in parsed if not self.composed_by_hydra(o)])
        return cfg


def override_dirname(overrides: list[Override], how: DictConfig) -> str:
    """hydra.job.override_dirname of a job, as Hydra's config loader makes it."""
    lines = sorted(o.input_line for o in overrides if o.key_or_group not in how.exclude_keys)
    return re.sub("[=]", how.kv_sep, how.item_sep.join(lines))


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
        in_process = self.config.hydra.launcher.get("_target_") == IN_PROCESS
        composed = run.check_sweep(self.config, jobs, composer.compose)  # exits before any training on a bad job
        if not in_process:
            return [self.launcher.launch(jobs, initial_job_idx=0)]
        return [self._run_here(jobs, composed)]

    def _run_here(self, jobs: Sequence[list[str]], composed: Sequence[DictConfig]) -> list[JobReturn]:
        """The basic launcher's loop, from the configs already composed."""
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        returns = []
        for idx, (job, cfg) in enumerate(zip(jobs, composed, strict=True)):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(job))}")
            with open_dict(cfg):
                cfg.hydra.job.id = idx
                cfg.hydra.job.num = idx
                # No per-job .hydra/ folder of three YAML files: the run's config.yaml artifact
                # holds the job's config, the sweep folder's multirun.yaml the sweep's.
                cfg.hydra.output_subdir = None
            returns.append(
                run_job(
                    hydra_context=self.hydra_context,
                    task_function=self.task_function,
                    config=cfg,
                    job_dir_key="hydra.sweep.dir",
                    job_subdir_key="hydra.sweep.subdir",
                )
            )
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        for ret in returns:
            _ = ret.return_value  # re-raises a job's exception, as Hydra's sweeper does
        return returns
