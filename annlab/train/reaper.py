"""Runs left RUNNING by a process that is gone (kill -9, a lost node) are ended, with the reason."""

from __future__ import annotations

import os
import socket
import time

from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from annlab import record


def alive(pid: int) -> bool:
    """Whether a process of this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def owner_tags() -> dict[str, str]:
    """Who runs a run: host and process, so that a later sweep can tell whether it is gone."""
    tags = {record.HOST: socket.gethostname(), record.PID: str(os.getpid()), record.HEARTBEAT: str(int(time.time()))}
    if os.environ.get("SLURM_JOB_ID"):  # a SLURM job: its id, as squeue, sacct and scancel know it
        array = os.environ.get("SLURM_ARRAY_JOB_ID")
        task = os.environ.get("SLURM_ARRAY_TASK_ID")
        tags[record.SLURM_JOB] = f"{array}_{task}" if array and task else os.environ["SLURM_JOB_ID"]
    return tags


def why_gone(tags: dict[str, str], now: float, stale_after: float) -> str | None:
    """Why a RUNNING run's process is gone, or None while it may be alive. On this host the
    process id decides; elsewhere a heartbeat older than `stale_after` seconds does."""
    host, pid = tags.get(record.HOST), tags.get(record.PID, "")
    if host == socket.gethostname() and pid.isdigit():
        return None if alive(int(pid)) else f"its process {pid} on {host} is gone"
    beat = float(tags.get(record.HEARTBEAT) or 0)
    if beat and now - beat > stale_after:
        return f"no heartbeat from {host or 'an unknown host'} for {now - beat:.0f}s (more than {stale_after:g}s)"
    return None


def reap(uri: str, experiment_id: str, stale_after: float) -> list[str]:
    """End every RUNNING run of the experiment whose process is gone: KILLED on this host (the
    process was killed), FAILED elsewhere (the node was lost or hung), each with tag
    annlab.error saying why. FINISHED runs and runs whose process lives are never touched.
    Returns the names of the runs ended."""
    client = MlflowClient(uri)
    ended = []
    now = time.time()
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=10_000):
        reason = why_gone(run.data.tags, now, stale_after)
        if reason is None:
            continue
        here = run.data.tags.get(record.HOST) == socket.gethostname()
        client.set_tag(run.info.run_id, record.ERROR, f"ended by a later sweep: {reason}")
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED if here else RunStatus.FAILED))
        ended.append(run.info.run_name)
    return ended
