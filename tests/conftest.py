"""Shared fixtures: real Hydra composition of conf/ and a real SQLite MLflow store per test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.initialize import get_gh_backup, restore_gh_from_backup
from omegaconf import OmegaConf

from annlab.config import RunConfig, parse_config
from annlab.train.fresh_store import seed_sqlite_store

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conf"
os.environ.setdefault("ANNLAB_ROOT", str(ROOT))  # conf/config.yaml searches experiments/ there

# Small and quick, but the same code path as a default job.
FAST = ["trainer.epochs=2", "dataset.n_samples=200", "model.width=16", "probe.batch_size=64", "probe.every=3"]


@pytest.fixture(scope="session")
def composed() -> Iterator[Callable[..., dict]]:
    """compose(overrides) -> the resolved config dict, composed by Hydra from conf/."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):

        def _compose(overrides: list[str] | None = None) -> dict:
            cfg = compose("config", overrides=overrides or [])
            data = OmegaConf.to_container(cfg, resolve=True)
            assert isinstance(data, dict)
            return data

        yield _compose


@pytest.fixture
def config(composed: Callable[..., dict]) -> Callable[..., RunConfig]:
    def _config(*overrides: str) -> RunConfig:
        return parse_config(composed(list(overrides)))

    return _config


@pytest.fixture(scope="session", autouse=True)
def annlab_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """annlab's cache folder (the empty store new SQLite stores are copied from) in a temp folder
    of the session, not the user's; subprocesses inherit it."""
    folder = tmp_path_factory.mktemp("cache")
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    yield folder
    if before is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = before


def fresh_store(folder: Path) -> str:
    """`folder`/mlflow.db, made as annlab makes a new store (a copy of the empty one); its URI."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    seed_sqlite_store(uri)
    return uri


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A fresh (empty) SQLite tracking URI in this test's temp dir."""
    return fresh_store(tmp_path)


@dataclass
class Result:
    """What a command left: its exit status and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def _exit_code(err: SystemExit) -> int:
    return err.code if isinstance(err.code, int) else (0 if err.code is None else 1)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> Callable[..., Result]:
    """cli(args, cwd) runs `python -m annlab.run ARGS` in `cwd` in this process: the same Hydra
    entry point a user runs, without paying ~5 s of imports per call. The working folder, the
    environment and Hydra's global state are restored afterwards."""
    from annlab import run

    def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Result:
        backup = get_gh_backup()
        with monkeypatch.context() as m:
            m.chdir(cwd)
            m.delenv("MLFLOW_TRACKING_URI", raising=False)
            # set by a sweep: restored (removed) after it
            for key in (run.TOTAL_ENV, run.SWEEP_ENV, run.SWEEP_START_ENV):
                m.setenv(key, "")
                m.delenv(key)
            for key, value in (env or {}).items():
                m.setenv(key, value)
            m.setattr(sys, "argv", ["annlab.run", *args])
            capsys.readouterr()
            GlobalHydra.instance().clear()
            try:
                run.main()
                code = 0
            except SystemExit as err:
                code = _exit_code(err)
            finally:
                GlobalHydra.instance().clear()
                restore_gh_from_backup(backup)
            out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return _run


def run_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m annlab.run ARGS` in `cwd`, as a user runs it."""
    full_env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "annlab.run", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
