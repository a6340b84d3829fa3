"""The read side's data access: a tracking store -> tidy pandas frames, one query or table per run."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
from mlflow.artifacts import download_artifacts
from mlflow.entities import Run, ViewType
from mlflow.tracking import MlflowClient

from annlab import record
from annlab.parts import register_activation
from annlab.record import (
    ACTIVATION_PARAM_STATS,
    DISTRIBUTIONS_TABLE,
    EPOCH_TABLE,
    LAYER_TABLE,
    NETWORK_TABLE,
    SPECTRUM_TABLE,
    STATS,
    TASKS,
)


class StoreError(RuntimeError):
    """No store, or nothing in it to report on; the message says which, in one line."""


@dataclass
class Frames:
    """What a report reads: runs (one row per run), layers (run x layer x step x stat) and
    epochs (run x epoch x metric), all tidy. `layers` and `epochs` hold usable runs only."""

    runs: pd.DataFrame
    layers: pd.DataFrame
    epochs: pd.DataFrame
    uri: str = ""
    _distributions: tuple[frozenset[str], pd.DataFrame] | None = field(default=None, repr=False)

    @property
    def usable(self) -> pd.DataFrame:
        """Runs that finished without diverging: the only ones drawn as data."""
        return self.runs[(self.runs.status == "FINISHED") & ~self.runs.diverged]

    def distributions(self) -> pd.DataFrame:
        """The distributions record of the usable runs (`load_distributions`), read from the store
        once for the pages and checks that all use it; read again if the usable runs change."""
        usable = self.usable
        key = frozenset(usable.run_id)
        if self._distributions is None or self._distributions[0] != key:
            table = load_distributions(usable, self.uri) if self.uri and len(usable) else pd.DataFrame()
            self._distributions = (key, table)
        return self._distributions[1]


def client_for(uri: str) -> MlflowClient:
    """A client on an existing store; StoreError for a SQLite file that is not there (a
    client would silently create an empty one)."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.is_file():
            raise StoreError(f"no tracking store at {path} (run a sweep first, or pass --uri)")
    return MlflowClient(uri)


def _param(run: Run, key: str, default: str = "") -> str:
    return run.data.params.get(key, default)


def _register_user_activations(run: Run) -> None:
    """A user's activation, in a uniform model or any layer of a per-layer one, builds by its
    short name on the read side too (annlab.parts): the theory and the pages need its phi."""
    params, tags = run.data.params, run.data.tags
    for key, target in params.items():
        if not key.endswith("activation._target_") or target in ("", "None"):
            continue
        prefix = key.removesuffix("_target_")
        # A uniform model's params name the activation group; its short name is the run's tag.
        name = params.get(prefix + "name") or tags.get(record.ACTIVATION, "")
        if name and name != "None":
            register_activation(name, target)


def _row(run: Run, experiment: str) -> dict[str, object]:
    """A run as one row. What ran comes from the record's tags; runs of the first release,
    which lacked the activation and init tags, fall back to their params."""
    tags, metrics = run.data.tags, run.data.metrics
    task = tags.get(record.TASK, "")
    model = record.current_name("model", tags.get(record.MODEL, "mlp"))
    # A first-release per-layer run recorded the group defaults it ignored: its model's name says more.
    legacy = model if model != "mlp" else None
    init = _param(run, "init.name")
    _register_user_activations(run)
    score = TASKS[task].score if task in TASKS else "acc"
    return {
        "run_id": run.info.run_id,
        "run_name": run.info.run_name,
        "experiment": experiment,
        "status": run.info.status,
        "diverged": tags.get(record.DIVERGED) == "true",
        "reason": tags.get(record.DIVERGED_REASON) or tags.get(record.ERROR, ""),
        "model": model,
        "activation": tags.get(record.ACTIVATION) or legacy or _param(run, "activation.name"),
        "init": tags.get(record.INIT) or legacy or record.current_name("init", init),
        "depth": int(tags.get(record.DEPTH) or _param(run, "model.depth", "-1")),
        "width": int(_param(run, "model.width", "0").replace("None", "0")),
        "dataset": record.current_name("dataset", _param(run, "dataset.name")),
        "seed": int(_param(run, "seed", "0")),
        "task": task,
        "score_name": score,
        "val_score": metrics.get(f"val/{score}", float("nan")),
        "val_loss": metrics.get("val/loss", float("nan")),
        "train_loss": metrics.get("train/loss", float("nan")),
        "steps": metrics.get("steps", float("nan")),
        "train_seconds": metrics.get("train_seconds", float("nan")),
        "init_bias": _param(run, "init.bias"),
        # The init's own params, "key=value" joined by ", " (the critical line's q*, a gain)
        "init_params": ", ".join(
            f"{k.removeprefix('init.params.')}={v}"
            for k, v in sorted(run.data.params.items())
            if k.startswith("init.params.")
        ),
        "lr": float(_param(run, "optimizer.lr", "nan")),
        "start_time": pd.to_datetime(run.info.start_time, unit="ms"),
        "end_time": pd.to_datetime(run.info.end_time, unit="ms") if run.info.end_time else pd.NaT,
        "code_version": tags.get(record.CODE_VERSION, ""),
        "artifact_uri": run.info.artifact_uri,
    }


def load_runs(client: MlflowClient, experiments: list[str] | None = None) -> pd.DataFrame:
    """One row per run of the named experiments (all but an empty 'Default' when None)."""
    found = {e.name: e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)}
    if experiments:
        missing = [name for name in experiments if name not in found]
        if missing:
            raise StoreError(f"no experiment named {', '.join(missing)}; the store has {', '.join(found)}")
        found = {name: found[name] for name in experiments}
    names = {v: k for k, v in found.items()}
    rows, token = [], None
    while found:
        page = client.search_runs(list(found.values()), max_results=50_000, page_token=token)
        rows += [_row(run, names[run.info.experiment_id]) for run in page]
        token = page.token
        if not token:
            break
    if not rows:
        raise StoreError(f"no runs in experiment(s) {', '.join(found) or '(none)'}")
    return pd.DataFrame(rows)


def _artifact(artifact_uri: str, run_id: str, name: str, tracking_uri: str) -> Path:
    """A local path to a run's artifact: in place for a local artifact store, else downloaded."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path)) / name
    return Path(download_artifacts(run_id=run_id, artifact_path=name, tracking_uri=tracking_uri))


def _tables(runs: pd.DataFrame, name: str, tracking_uri: str, missing_ok: bool = False) -> pd.DataFrame:
    def read(row: tuple[str, str]) -> pd.DataFrame:
        run_id, artifact_uri = row
        try:
            frame = pd.read_parquet(_artifact(artifact_uri, run_id, name, tracking_uri))
        except (FileNotFoundError, OSError):
            if not missing_ok:
                raise
            return pd.DataFrame()
        frame.insert(0, "run_id", run_id)
        return frame

    pairs = list(zip(runs.run_id, runs.artifact_uri, strict=True))
    with ThreadPoolExecutor(max_workers=4) as pool:  # I/O bound for remote artifact stores
        frames = list(pool.map(read, pairs))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load_text(runs: pd.DataFrame, name: str, tracking_uri: str) -> str:
    """The text artifact `name` of the first of `runs`."""
    run = runs.iloc[0]
    return _artifact(run.artifact_uri, run.run_id, name, tracking_uri).read_text()


def load_layers(runs: pd.DataFrame, tracking_uri: str) -> pd.DataFrame:
    """Tidy per-layer stats of `runs`: columns run_id, step, layer, stat, value."""
    wide = _tables(runs, LAYER_TABLE, tracking_uri)
    if wide.empty:
        return pd.DataFrame(columns=["run_id", "step", "layer", "stat", "value"])
    # A stat added since a run was recorded (example_cosine) is absent from its table: NaN there.
    names = [*(c for c in STATS if c in wide.columns), *(c for c in ACTIVATION_PARAM_STATS if c in wide.columns)]
    long = wide.melt(id_vars=["run_id", "step", "layer"], value_vars=names, var_name="stat")
    long = long[~(long.stat.isin(ACTIVATION_PARAM_STATS) & long.value.isna())]  # layers that learn none
    long["run_id"] = long.run_id.astype("category")
    long["stat"] = long.stat.astype(pd.CategoricalDtype([*STATS, *ACTIVATION_PARAM_STATS]))
    return long


def load_epochs(runs: pd.DataFrame, tracking_uri: str) -> pd.DataFrame:
    """Tidy run-level metrics of `runs`: columns run_id, epoch, metric, value."""
    wide = _tables(runs, EPOCH_TABLE, tracking_uri)
    if wide.empty:
        return pd.DataFrame(columns=["run_id", "epoch", "metric", "value"])
    metrics = [c for c in wide.columns if c not in ("run_id", "epoch", "step")]
    return wide.melt(id_vars=["run_id", "epoch"], value_vars=metrics, var_name="metric")


def load_networks(runs: pd.DataFrame, tracking_uri: str) -> pd.DataFrame:
    """The networks `runs` built, a row per run x linear layer (the record's network table);
    runs recorded before that table existed have no rows."""
    return _tables(runs, NETWORK_TABLE, tracking_uri, missing_ok=True)


def load_spectra(runs: pd.DataFrame, tracking_uri: str) -> pd.DataFrame:
    """The Jacobian spectra `runs` recorded (record.SPECTRUM_TABLE, with run_id); runs recorded
    without one (probe.spectrum=0, or before it existed) have no rows."""
    return _tables(runs, SPECTRUM_TABLE, tracking_uri, missing_ok=True)


def load_distributions(runs: pd.DataFrame, tracking_uri: str) -> pd.DataFrame:
    """The distributions record of `runs` (annlab.train.distributions.COLUMNS, with run_id); runs
    recorded without one (probe.distributions=0, or before it existed) have no rows."""
    return _tables(runs, DISTRIBUTIONS_TABLE, tracking_uri, missing_ok=True)


def load(uri: str, experiments: list[str] | None = None) -> Frames:
    """Everything a report needs from the store at `uri`."""
    client = client_for(uri)
    runs = load_runs(client, experiments)
    frames = Frames(runs, pd.DataFrame(), pd.DataFrame(), uri)
    usable = frames.usable
    frames.layers = load_layers(usable, uri)
    frames.epochs = load_epochs(usable, uri)
    return frames
