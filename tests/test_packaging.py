"""A wheel (`pip install .`, not `-e`) carries conf/ and experiments/, and the CLI runs from it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import FAST, ROOT
from mlflow.tracking import MlflowClient

import annlab


def test_every_config_folder_is_a_listed_package() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {d for d in (ROOT / "conf").rglob("*") if d.is_dir()}
    expected = {"annlab.conf." + ".".join(d.relative_to(ROOT / "conf").parts) for d in folders}
    expected |= {"annlab." + d.name for d in (ROOT / "annlab").iterdir() if (d / "__init__.py").is_file()}
    assert expected - listed == set(), "add them to [tool.setuptools] packages in pyproject.toml"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy: setuptools leaves build/ and *.egg-info in the folder it builds.
    source, dist = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    for name in ("annlab", "conf", "experiments", "hydra_plugins"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return next(dist.glob("annlab-*.whl"))


def test_the_wheel_holds_every_config_and_study(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {"annlab/conf/" + p.relative_to(ROOT / "conf").as_posix() for p in (ROOT / "conf").rglob("*.yaml")}
    studies = {f"annlab/experiments/{p.name}" for p in (ROOT / "experiments").glob("*.yaml")}
    assert len(configs) > 40 and len(studies) >= 8
    assert configs | studies <= names
    assert "hydra_plugins/annlab_launchers/slurm_launcher.py" in names  # hydra/launcher=slurm's class


@pytest.mark.slow  # a wheel built and installed into a fresh environment: ~20 s
def test_the_cli_runs_from_the_wheel(wheel: Path, tmp_path: Path) -> None:
    site, work = tmp_path / "site", tmp_path / "work"
    zipfile.ZipFile(wheel).extractall(site)  # what pip install puts in site-packages
    # A venv often sits inside the user's own git repository: its commit is not annlab's version.
    git = ["git", "-C", str(tmp_path), "-c", "user.name=u", "-c", "user.email=u@example.org"]
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "the user's project"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("ANNLAB_ROOT", "MLFLOW_TRACKING_URI")}
    env["PYTHONPATH"] = str(site)  # ahead of the editable install of this checkout

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)

    where = cli("-c", "import annlab.run as r; print(r.__file__); print(r.ROOT)")
    assert where.stdout.split() == [str(site / "annlab" / "run.py"), str(site / "annlab")], where.stderr[-2000:]
    study = cli("-m", "annlab.run", "--cfg", "job", "+experiments=deep_relu_he2015")
    assert study.returncode == 0 and "depth: 30" in study.stdout, study.stderr[-2000:]
    job = cli("-m", "annlab.run", *FAST, "activation=tanh", "init=xavier")
    assert job.returncode == 0, job.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{work / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("annlab").experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["annlab.code_version"] == annlab.__version__
