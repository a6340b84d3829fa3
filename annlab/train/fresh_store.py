"""A new SQLite store as a copy of an empty one that MLflow migrated once per MLflow version."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import uuid
from pathlib import Path

SQLITE = "sqlite:///"


def cache_folder() -> Path:
    """Where annlab keeps what it can make again ($XDG_CACHE_HOME/annlab, else ~/.cache/annlab)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "annlab"


def seed_sqlite_store(uri: str) -> bool:
    """Create the SQLite file of `uri`, if it does not exist yet, as a copy of an empty store:
    MLflow's ~60 schema migrations of a new file cost 1.5-2.5 s here, a copy ~5 ms. The copy is
    what MLflow itself makes, less its Default experiment, which MLflow adds when it first opens
    the store (with that store's artifact root). Whether a copy was made: nothing is done for
    other stores, an existing file, a missing folder (MLflow then says so) or an unwritable cache;
    two processes that create the same store at once get one of their copies, whole."""
    database = uri[len(SQLITE) :].split("?")[0] if uri.startswith(SQLITE) else ""
    if database in ("", ":memory:") or Path(database).exists() or not Path(database).parent.is_dir():
        return False
    try:
        template = _template()
        partial = _partial(Path(database))
        try:
            shutil.copyfile(template, partial)
            os.link(partial, database)  # creates the store only if no other process has meanwhile
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
    except Exception:  # no hard links here, a read-only cache, a race lost...: MLflow makes the store itself
        return False
    return True


def _template() -> Path:
    """The empty store of this MLflow version in the cache folder, made (atomically) if missing."""
    import mlflow
    from mlflow.tracking import MlflowClient

    template = cache_folder() / f"mlflow-{mlflow.__version__}-empty.db"
    if template.is_file():
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial(template)
    try:
        MlflowClient(f"{SQLITE}{partial}").get_experiment("0")  # runs MLflow's migrations
        with contextlib.closing(sqlite3.connect(partial)) as db, db:
            db.execute("DELETE FROM experiments WHERE experiment_id = 0")
        os.replace(partial, template)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
    return template


def _partial(path: Path) -> Path:
    """A name beside `path` that no other process uses, for a file made there and then moved."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial")
