"""Studies: every study file composes; shrunken grids run through the CLI and their checks hold."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT, Result

from annlab.config import parse_config
from annlab.studies import STUDIES
from annlab.studies.cli import check_study, main

PARTS = {part: name for name, study in STUDIES.items() for part in study.parts}
STUDY_FILES = sorted(p.stem for p in (ROOT / "experiments").glob("*.yaml") if p.stem not in PARTS)


def test_every_study_file_is_registered_and_says_how_to_run_and_check_it() -> None:
    assert sorted(STUDIES) == STUDY_FILES
    for part, name in PARTS.items():  # a study's further grid: run with it, into its experiment
        text = (ROOT / "experiments" / f"{part}.yaml").read_text()
        assert text.startswith("# @package _global_") and f"experiment: {name}" in text
        assert f"python -m annlab.study run {name}" in text and "# Budget:" in text
    for name in STUDY_FILES:
        text = (ROOT / "experiments" / f"{name}.yaml").read_text()
        assert text.startswith("# @package _global_")
        assert f"# Run:   python -m annlab.study run {name}" in text
        assert f"# Check: python -m annlab.study check {name}" in text
        assert f"# Finding: stated once, with its thresholds and check, in annlab/studies/{name}.py" in text
        assert "# Budget:" in text
        assert f"experiment: {name}" in text  # runs go to an MLflow experiment named after the study


@pytest.mark.parametrize("name", sorted([*STUDY_FILES, *PARTS]))
def test_every_study_composes(name: str, composed: Callable[..., dict]) -> None:
    cfg = parse_config(composed([f"+experiments={name}"]))
    assert cfg.tracking.experiment == PARTS.get(name, name)


# name -> overrides that shrink the grid but keep what the check needs
SHRUNKEN = {
    "vanishing_gradients": ["activation=sigmoid,relu", "init=kaiming", "model.depth=1,3,6", "seed=0"],
    "symmetry_breaking": ["init=zeros,ones,constant,xavier", "seed=0", "trainer.epochs=20"],
    "dead_relu": ["activation=relu,leaky_relu,prelu", "seed=0"],
    "output_layers": ["seed=0"],
    "seed_example": ["seed=0", "trainer.epochs=2"],
    "init_matching": ["activation=relu,leaky_relu", "seed=0"],  # tanh's margin needs all 3 seeds
    "deep_relu_he2015": ["seed=0"],
    "saturation_glorot2010": ["activation=sigmoid", "seed=0"],
    # the full grid's cells for sigmoid, tanh and relu, both seeds (tanh + critical on seed 0
    # alone, at depth 30, strayed 0.32 decades from the theory)
    "criticality": ["activation=sigmoid,tanh,relu", "init=xavier,critical,calibrated", "model.depth=10,50", "seed=0,1"],
    # the full grid's cells for sigmoid and relu, all three seeds, so the verdict is the study's own:
    # which seeds train at depth 20 differs between machines of this kind (two seeds picked on one
    # held there; on another relu + calibrated read 0.64 on them, 0.59 on all three)
    "trainability": ["activation=sigmoid,relu"],
    "convergence_speed": ["dataset=moons,digits", "seed=0", "trainer.epochs=10"],
    "zero_bias": ["activation=tanh", "model.depth=2", "trainer.epochs=10"],
    "no_nonlinearity": ["dataset=circles", "model.depth=0,3", "seed=0"],
}
SLOW = {
    "convergence_speed",
    "dead_relu",  # ~17 s: its epochs are what kills the relu units
    "init_matching",
    "deep_relu_he2015",
    "saturation_glorot2010",
    "criticality",
    "trainability",
}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(SHRUNKEN)]
)
def test_shrunken_study_runs_and_its_finding_holds(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture, cli: Callable[..., Result]
) -> None:
    proc = cli(["-m", f"+experiments={name}", *SHRUNKEN[name]], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    code = check_study(name, f"sqlite:///{tmp_path / 'mlflow.db'}")
    out = capsys.readouterr().out
    assert code == 0, out
    assert "finding HOLDS" in out and f"Study {name}:" in out


def test_check_without_data_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["check", "dead_relu", "--uri", f"sqlite:///{tmp_path / 'none.db'}"]) == 2
    assert "data missing" in capsys.readouterr().err


def test_check_that_does_not_hold_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture, cli: Callable[..., Result]
) -> None:
    # relu under a small learning rate does not die: the dead_relu finding must not hold.
    proc = cli(
        [
            "-m",
            "+experiments=dead_relu",
            "activation=relu,leaky_relu,prelu",
            "seed=0",
            "optimizer.lr=0.001",
            "trainer.epochs=3",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert check_study("dead_relu", f"sqlite:///{tmp_path / 'mlflow.db'}") == 1
    assert "finding DOES NOT HOLD" in capsys.readouterr().out


@pytest.mark.slow  # a depth-20 grid: ~10 s
def test_trainability_does_not_hold_where_nothing_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture, cli: Callable[..., Result]
) -> None:
    """One epoch at a tiny learning rate: every cell stays at chance, so critical does not train
    sigmoid where xavier does not, and the check says so."""
    grid = ["activation=sigmoid,relu", "seed=0", "trainer.epochs=1", "optimizer.lr=1e-5", "dataset.n_samples=200"]
    proc = cli(["-m", "+experiments=trainability", *grid], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert check_study("trainability", f"sqlite:///{tmp_path / 'mlflow.db'}") == 1
    out = capsys.readouterr().out
    assert "finding DOES NOT HOLD" in out
    assert "NO  sigmoid: critical against xavier, kaiming" in out


def test_each_finding_is_stated_once_and_the_readme_and_list_say_it(capsys: pytest.CaptureFixture) -> None:
    readme = (ROOT / "README.md").read_text()
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    for name, study in STUDIES.items():
        assert f"{name}: {study.finding}" in listed
        assert f"| {name} | {study.finding} |" in readme, f"README's studies table lacks the finding of {name}"
