"""A new SQLite store is a copy of an empty one MLflow migrated: the same schema, its own Default experiment."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from annlab.train.experiments import ensure_experiment
from annlab.train.fresh_store import cache_folder, seed_sqlite_store


def schema(db: Path) -> tuple[dict[str, list[str]], list[tuple[str]]]:
    """Tables and indexes with their columns and constraints (MLflow's own migrations order a
    table's constraints differently from one run to the next), and the schema version."""
    with sqlite3.connect(db) as con:
        tables = con.execute("SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchall()
        version = con.execute("SELECT version_num FROM alembic_version").fetchall()
    return {name: sorted(line.strip(" ,\t") for line in (sql or "").splitlines()) for name, sql in tables}, version


def test_a_seeded_store_is_the_store_mlflow_makes(tmp_path: Path) -> None:
    (tmp_path / "mlflow").mkdir()
    (tmp_path / "ours").mkdir()
    MlflowClient(f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}").search_experiments()  # MLflow's migrations
    uri = f"sqlite:///{tmp_path / 'ours' / 'mlflow.db'}"
    assert seed_sqlite_store(uri)
    assert schema(tmp_path / "ours" / "mlflow.db") == schema(tmp_path / "mlflow" / "mlflow.db")
    assert len(list(cache_folder().glob("mlflow-*-empty.db"))) == 1
    # MLflow adds its Default experiment on first opening, with this store's artifact root
    client = MlflowClient(uri)
    (default,) = client.search_experiments()
    assert default.experiment_id == "0" and default.name == "Default"
    theirs = MlflowClient(f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}").get_experiment("0")
    assert default.artifact_location == theirs.artifact_location  # both ./mlruns of this process
    # and it holds runs
    experiment = ensure_experiment(uri, "annlab")
    run = client.create_run(experiment, run_name="r")
    client.log_metric(run.info.run_id, "m", 1.5)
    assert client.get_run(run.info.run_id).data.metrics == {"m": 1.5}


def test_only_a_new_sqlite_file_in_an_existing_folder_is_seeded(tmp_path: Path) -> None:
    existing = tmp_path / "existing.db"
    existing.write_bytes(b"mine")
    assert not seed_sqlite_store(f"sqlite:///{existing}")
    assert existing.read_bytes() == b"mine"
    assert not seed_sqlite_store(f"sqlite:///{tmp_path / 'no' / 'such' / 'folder.db'}")
    assert not (tmp_path / "no").exists()  # MLflow says the folder is missing, as without annlab
    assert not seed_sqlite_store("http://127.0.0.1:5000")
    assert not seed_sqlite_store("sqlite:///:memory:")
    target = tmp_path / "new.db"
    assert seed_sqlite_store(f"sqlite:///{target}") and not seed_sqlite_store(f"sqlite:///{target}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.db", "new.db"]  # no partial file left


def test_a_cache_that_cannot_be_written_leaves_the_store_to_mlflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))
    assert not seed_sqlite_store(f"sqlite:///{tmp_path / 'new.db'}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]
