"""hydra/launcher=slurm: hydra-submitit-launcher's SLURM launcher, made to survive lost jobs.

submitit's launcher waits on every job's result file and raises on the first job without one
(cancelled before it started, killed by the node, past its time limit): the sweep then ends in a
traceback, its summary unsaid. This one waits for every job, using `squeue` as well as `sacct`
(a cluster without accounting has no `sacct`), records each job that ended without a result as
its own outcome with the SLURM state and the job's log, and lets the sweep's summary speak.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher
from omegaconf import OmegaConf

log = logging.getLogger(__name__)

# squeue states of a job that is still to report; any other (or none: aged out) means it ended.
ALIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING"}
# After its job ended, how long a result file may take to appear (a shared file system's lag).
GRACE_S = float(os.environ.get("ANNLAB_SLURM_RESULT_GRACE_S", "20"))
POLL_S = 1.0
GONE = "GONE"  # what a job squeue does not list is taken to be


def squeue_states(job_ids: Sequence[str]) -> dict[str, str]:
    """SLURM's state of each job (array tasks as "123_4"), finished ones included while
    slurmctld remembers them; a job it no longer knows is absent."""
    arrays = sorted({j.split("_")[0] for j in job_ids})
    proc = subprocess.run(
        ["squeue", "-h", "-r", "-t", "all", "-o", "%i %T", "-j", ",".join(arrays)],
        capture_output=True,
        text=True,
        check=False,
    )
    states = dict(line.split(maxsplit=1) for line in proc.stdout.splitlines() if " " in line)
    return {j: states[j].strip() for j in job_ids if j in states}


class SlurmLauncher(SubmititSlurmLauncher):
    """submitit's SLURM launcher; every job ends in an outcome, with or without a result."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        jobs = self._submit(job_overrides, initial_job_idx)
        returns = []
        for job, overrides, state in zip(jobs, job_overrides, self._wait(jobs), strict=True):
            if state is None:
                returns.append(job.results()[0])
                continue
            ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
            ret.return_value = None
            self._lost(job, list(overrides), state)
            returns.append(ret)
        return returns

    def _submit(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[Any]:
        """As hydra-submitit-launcher 1.2's launch() submits (its code up to the wait)."""
        import submitit

        assert self.config is not None
        init_params = {"folder": self.params["submitit_folder"]}
        init_params.update({f"slurm_{k}": v for k, v in self.params.items() if k == "max_num_timeout"})
        executor = submitit.AutoExecutor(cluster="slurm", **init_params)
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        skip = {"max_num_timeout", "submitit_folder"}
        executor.update_parameters(
            **{k if k in base else f"slurm_{k}": v for k, v in self.params.items() if k not in skip}
        )
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        params = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
        try:
            return list(executor.map_array(self, *zip(*params, strict=True)))
        except submitit.core.utils.FailedJobError as err:  # sbatch refused: nothing was submitted
            print(f"annlab: SLURM refused the sweep, nothing was run: {str(err).strip()}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None

    @staticmethod
    def _wait(jobs: list[Any]) -> list[str | None]:
        """Per job: None once its result file is there, or the SLURM state it ended in without one."""
        ended: dict[int, float] = {}  # when each job was first seen ended without a result
        outcome: dict[int, str | None] = {}
        while len(outcome) < len(jobs):
            waiting = [i for i in range(len(jobs)) if i not in outcome]
            states = squeue_states([jobs[i].job_id for i in waiting])
            for i in waiting:
                if jobs[i].paths.result_pickle.exists():
                    outcome[i] = None
                    continue
                state = states.get(jobs[i].job_id, GONE)
                if state.split()[0] in ALIVE:
                    ended.pop(i, None)
                    continue
                if time.monotonic() - ended.setdefault(i, time.monotonic()) > GRACE_S:
                    outcome[i] = state
            time.sleep(POLL_S)
        return [outcome[i] for i in range(len(jobs))]

    def _lost(self, job: Any, overrides: list[str], state: str) -> None:
        """Record a job that ended without a result, unless the job itself reported (it may have
        recorded KILLED before SLURM's SIGKILL came)."""
        from annlab import outcomes

        sweep_dir = str(self.config.hydra.sweep.dir)  # type: ignore[union-attr]
        if any(o.get("cluster_job") == str(job.job_id) for o in outcomes.read(sweep_dir)):
            return
        if state == GONE:  # a pending array task that was cancelled leaves no trace in squeue
            status = "KILLED"
            why = f"SLURM job {job.job_id} was cancelled before it started (squeue no longer lists it)"
        else:
            status = "KILLED" if state.startswith("CANCELLED") else "FAILED"
            why = f"SLURM job {job.job_id} ended {state} without a result"
        outcomes.append(
            sweep_dir,
            {
                "name": " ".join(filter_overrides(overrides)) or "(no overrides)",
                "status": status,
                "error": why,
                "cluster_job": str(job.job_id),
                "log": str(job.paths.stdout),
            },
        )
