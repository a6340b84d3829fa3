"""hydra/launcher=vectorized: a sweep's same-shape jobs trained together, each still its own run.

With annlab's sweeper (the default) the sweeper hands this launcher's work its already checked
job configs (no second composition: see sweeper.py); with another sweeper `launch` composes each
job as Hydra's basic launcher does, then groups them the same way (annlab.jobs.run_grouped).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

log = logging.getLogger(__name__)

# Members a group holds at most: its tensors (splits, stacked weights, gradients, optimiser
# state, a batch's activations) stay a few MB a member at the suite's sizes (README: Side by side).
GROUP_SIZE = 32


def run_groups(
    jobs: Sequence[Sequence[str]],
    data: Sequence[dict[str, Any]],
    nodes: Sequence[DictConfig],
    size: int,
    n_jobs: int = 1,
    first: int = 0,
) -> list[JobReturn]:
    """Train the checked jobs (`data`: each one's config as plain data; `nodes`: its Hydra node;
    `first`: the sweep's index of the first of them) in groups of at most `size`, `n_jobs` groups
    at a time; one JobReturn per job, in order."""
    from annlab import jobs as annlab_jobs
    from annlab.outcomes import SWEEP_ENV, TOTAL_ENV

    # The whole sweep's count (a sweeper may launch it in batches), as the pre-check counted it.
    folder, total = os.environ[SWEEP_ENV], os.environ.get(TOTAL_ENV, str(len(jobs)))
    places = []
    for idx, (job, node) in enumerate(zip(jobs, nodes, strict=True), start=first):
        log.info(f"\t#{idx} : {' '.join(filter_overrides(job))}")
        places.append(annlab_jobs.JobPlace(True, idx + 1, total, folder, annlab_jobs.choices_of(node.runtime.choices)))
    objectives = annlab_jobs.run_grouped(data, places, size, n_jobs)
    returns = []
    for job, node, objective in zip(jobs, nodes, objectives, strict=True):
        ret = JobReturn(overrides=list(job), working_dir=os.getcwd(), task_name=str(node.job.name))
        ret.return_value, ret.status = objective, JobStatus.COMPLETED
        returns.append(ret)
    return returns


class VectorizedLauncher(Launcher):
    def __init__(self, group_size: int = GROUP_SIZE, n_jobs: int = 1) -> None:
        from annlab.jobs import fail

        if not isinstance(group_size, int) or group_size < 1:
            fail(f"hydra.launcher.group_size={group_size!r}: a group holds a whole number of jobs, at least 1")
        if not isinstance(n_jobs, int) or n_jobs < 1:
            fail(f"hydra.launcher.n_jobs={n_jobs!r}: the worker processes, a whole number, at least 1")
        self.group_size, self.n_jobs = group_size, n_jobs
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Another sweeper's jobs: composed here, once each, then grouped and trained."""
        from annlab.run import _plain

        assert self.config is not None and self.hydra_context is not None
        setup_globals()  # as Hydra's basic launcher sets up before its jobs
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        loader = self.hydra_context.config_loader
        data, nodes = [], []
        for overrides in job_overrides:
            cfg = loader.load_sweep_config(self.config, list(overrides))
            nodes.append(cfg.hydra)
            data.append(_plain(cfg))
        return run_groups(job_overrides, data, nodes, self.group_size, self.n_jobs, initial_job_idx)
