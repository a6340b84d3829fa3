"""Which job of a sweep already has a FINISHED run: one question to the store per job, or none."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from annlab import record

# For the sweep running in this process: the experiments (uri, id) that had no FINISHED run when
# it began, and the config hashes it has since finished in each. A job there is looked up here,
# not in the store (~10 ms a job on SQLite). Jobs of other processes (another sweep into the same
# experiment at the same time) are not seen; at worst a config then runs twice.
_FRESH: dict[tuple[str, str], dict[str, str]] = {}


def sweep_begins(stores: list[tuple[str, str]]) -> None:
    """Before a sweep's first job: note which of its (uri, experiment id) have no FINISHED run yet."""
    _FRESH.clear()
    for uri, experiment_id in stores:
        if not MlflowClient(uri).search_runs([experiment_id], "attributes.status = 'FINISHED'", max_results=1):
            _FRESH[uri, experiment_id] = {}


def sweep_ends() -> None:
    """After a sweep: every job asks the store again."""
    _FRESH.clear()


def finished_run(uri: str, experiment_id: str, digest: str) -> str | None:
    """The id of a FINISHED run of the same config in the experiment, if there is one."""
    if (uri, experiment_id) in _FRESH:
        return _FRESH[uri, experiment_id].get(digest)
    runs = MlflowClient(uri).search_runs(
        [experiment_id], f"tags.`{record.CONFIG_HASH}` = '{digest}' and attributes.status = 'FINISHED'", max_results=1
    )
    return runs[0].info.run_id if runs else None


def finished(uri: str, experiment_id: str, digest: str, run_id: str) -> None:
    """Note that this process finished a run of the config `digest`."""
    if (uri, experiment_id) in _FRESH:
        _FRESH[uri, experiment_id].setdefault(digest, run_id)
