"""The tracking store a sweep writes to: reachable, and its experiment made once a process."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from mlflow.tracking import MlflowClient

from annlab.config import ConfigError
from annlab.train.fresh_store import seed_sqlite_store

SERVER_TIMEOUT_S = 5.0
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}


def check_server(uri: str) -> None:
    """For an http(s) tracking URI: ConfigError within SERVER_TIMEOUT_S if nothing answers there,
    instead of MLflow's retries with backoff (minutes) against a server that is not up."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=SERVER_TIMEOUT_S) as response:
            response.read(64)
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise ConfigError(
            f"tracking.uri={uri}: cannot reach the tracking server ({reason}); start it "
            "(mlflow server ...) or set tracking.uri / MLFLOW_TRACKING_URI to a reachable store"
        ) from None


def artifact_location(uri: str, name: str) -> str | None:
    """Where a new experiment keeps its artifacts: for a SQLite store, `mlruns/<name>` beside the
    database file, so that a store and its artifacts stay together (MLflow's default is
    ./mlruns of whatever folder the experiment was created from, which scattered them and
    filled the working folder with the artifacts of temporary stores). None for other stores:
    the server decides."""
    prefix = "sqlite:///"
    database = uri[len(prefix) :].split("?")[0]
    if not uri.startswith(prefix) or database in ("", ":memory:"):
        return None
    folder = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "experiment"
    return str(Path(database).parent / "mlruns" / folder)


_EXPERIMENT_IDS: dict[tuple[str, str], str] = {}


def ensure_experiment(uri: str, name: str) -> str:
    """Create the store (schema) and the experiment if missing; return the experiment id.

    Called once before any job starts: processes that create a fresh SQLite store at the
    same time race in its schema migration. A store that cannot be reached or written is a
    ConfigError naming the URI. A process asks the store once per experiment (a sweep's jobs
    then skip the lookup: ~8 ms a job on SQLite).
    """
    if (uri, name) not in _EXPERIMENT_IDS:
        _EXPERIMENT_IDS[uri, name] = _ensure_experiment(uri, name)
    return _EXPERIMENT_IDS[uri, name]


def _ensure_experiment(uri: str, name: str) -> str:
    check_server(uri)
    seed_sqlite_store(uri)
    try:
        client = MlflowClient(uri)
        exp = client.get_experiment_by_name(name)
        if exp:
            return exp.experiment_id
        # MLflow 3's UI opens an experiment as GenAI traces unless told it holds training runs.
        return client.create_experiment(name, artifact_location(uri, name), tags=EXPERIMENT_TAGS)
    except Exception as err:  # MLflow and SQLAlchemy raise many kinds; all mean "no usable store"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"tracking.uri={uri}: cannot use this tracking store: {first}") from None
