"""Bring your own data: a CSV or parquet file with a target column, or a function returning (X, y)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FAST, Result

from annlab.config import ConfigError
from annlab.naming import run_name
from annlab.train import user_data
from annlab.train.data import load_split
from annlab.train.identity import config_hash

USER = Path(__file__).parent / "userparts"
SMALL = [*FAST, "model.depth=2"]


def table(rows: int = 240, target: object = "labels") -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    if target == "labels":
        frame["y"] = np.where(x[:, 0] > 0, "yes", "no")
    elif target == "three":
        frame["y"] = np.digitize(x[:, 0], [-0.5, 0.5])
    else:
        frame["y"] = 2.5 * x[:, 0] + 0.3
    return frame


@pytest.mark.parametrize(
    ("kind", "task", "classes"), [("labels", "binary", 2), ("three", "multiclass", 3), ("float", "regression", 0)]
)
def test_the_task_follows_the_target(kind: str, task: str, classes: int, tmp_path: Path, config: Callable) -> None:
    path = tmp_path / f"{kind}.csv"
    table(target=kind).to_csv(path, index=False)
    cfg = config("dataset=file", f"dataset.path={path}", "dataset.target=y", *SMALL)
    split = load_split(cfg.dataset, cfg.seed)
    assert (split.task, split.n_classes, split.n_features) == (task, classes, 3)
    assert len(split.x_train) + len(split.x_val) == 200  # dataset.n_samples=200 (FAST) keeps 200 of 240 rows
    assert abs(float(split.x_train.mean())) < 0.05  # standardised on the training split
    assert run_name(cfg) == f"relu-kaiming-d2-{kind}-s0"


def test_a_csv_and_a_parquet_run_end_to_end_and_the_file_is_read_once(tmp_path: Path, config: Callable) -> None:
    from annlab.train.job import run_job

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    table().to_csv(tmp_path / "d.csv", index=False)
    table().to_parquet(tmp_path / "d.parquet")
    user_data._table.cache_clear()
    for suffix in ("csv", "parquet"):
        args = ("dataset=file", f"dataset.path={tmp_path / f'd.{suffix}'}", "dataset.target=y", *SMALL)
        assert run_job(config(*args), uri=uri).status == "FINISHED"
        for seed in (1, 2):  # more jobs of a sweep: other splits of the same table
            load_split(config(*args, f"seed={seed}").dataset, seed)
    assert user_data._table.cache_info().misses == 2  # one read per file, whatever the jobs


def test_the_identity_holds_the_files_content(tmp_path: Path, config: Callable) -> None:
    path = tmp_path / "d.csv"
    table().to_csv(path, index=False)
    args = ("dataset=file", f"dataset.path={path}", "dataset.target=y")
    before = config_hash(config(*args))
    table(rows=241).to_csv(path, index=False)
    assert config_hash(config(*args)) != before


def test_a_function_gives_the_data(tmp_path: Path, config: Callable, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(USER.parent))
    cfg = config("dataset=custom", "dataset._target_=userparts.acts.two_blobs", "+dataset.params.n=100", *SMALL)
    split = load_split(cfg.dataset, 3)
    assert (split.task, split.n_features, len(split.x_train) + len(split.x_val)) == ("binary", 3, 100)
    assert run_name(cfg) == "relu-kaiming-d2-two_blobs-s0"


def test_values_a_dataset_would_ignore_are_refused(config: Callable) -> None:
    with pytest.raises(ConfigError, match=r"dataset\.path=x: dataset=moons would ignore it"):
        config("+dataset.path=x")
    with pytest.raises(ConfigError, match=r"dataset=file needs dataset\.path"):
        config("dataset=file")


def _bad_files(folder: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (overrides, what the message says)"""
    frame = table()
    frame.assign(d=["t"] * len(frame)).to_csv(folder / "text.csv", index=False)
    frame.assign(b=frame.b.where(frame.index % 7 != 0)).to_csv(folder / "nan.csv", index=False)
    frame.assign(y="same").to_csv(folder / "one.csv", index=False)
    frame.head(2).to_csv(folder / "tiny.csv", index=False)
    file = ["dataset=file", "dataset.target=y"]
    return {
        "missing file": ([*file, "dataset.path=none.csv"], "dataset.path=none.csv: no such file"),
        "absent column": (
            ["dataset=file", "dataset.path=text.csv", "dataset.target=z"],
            "dataset.target='z' is not a column",
        ),
        "text features": ([*file, "dataset.path=text.csv"], "non-numeric feature columns d"),
        "NaN values": ([*file, "dataset.path=nan.csv"], "NaN or infinite values in b (35)"),
        "single class": ([*file, "dataset.path=one.csv"], "the target has a single class ('same')"),
        "too few rows": ([*file, "dataset.path=tiny.csv"], "dataset=file"),
        "X and y lengths": (["dataset=custom", "dataset._target_=userparts.acts.ragged"], "X has 10 rows but y has 11"),
    }


def test_bad_data_is_refused_saying_why(tmp_path: Path, config: Callable, monkeypatch: pytest.MonkeyPatch) -> None:
    from annlab.train.setup import check

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(USER.parent))
    for name, (overrides, said) in _bad_files(tmp_path).items():
        with pytest.raises(ConfigError) as err:
            check(config(*overrides, *SMALL))
        assert said in str(err.value), (name, str(err.value))


def test_bad_data_exits_2_before_any_run(tmp_path: Path, cli: Callable[..., Result]) -> None:
    table().assign(d="t").to_csv(tmp_path / "text.csv", index=False)
    res = cli(["-m", "dataset=file", "dataset.path=text.csv", "dataset.target=y", "seed=0,1", *SMALL], tmp_path)
    assert res.returncode == 2 and "non-numeric feature columns d" in res.stderr
    assert not (tmp_path / "mlflow.db").exists()
