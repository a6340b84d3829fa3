"""Start-up: the help page, the study list and rejected configs load nothing heavy (fresh processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "sklearn", "mlflow", "pandas", "matplotlib", "numpy")
# Runs a module as `python -m` would, then reports which heavy modules got imported.
PROBE = """
import json, runpy, sys
sys.argv = [{module!r}, *{args!r}]
try:
    runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
except SystemExit as exit:
    code = exit.code
else:
    code = 0
print("\\nLOADED " + json.dumps([m for m in {heavy!r} if m in sys.modules]) + " EXIT " + str(code))
"""


def loaded(module: str, args: list[str], cwd: Path) -> tuple[list[str], int, str]:
    code = PROBE.format(module=module, args=args, heavy=HEAVY)
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)
    tail = proc.stdout.rsplit("\nLOADED ", 1)[1]
    names, exit_code = tail.split(" EXIT ")
    return json.loads(names), int(exit_code), proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("module", "args", "exit_code"),
    [
        ("annlab.run", ["--help"], 0),
        ("annlab.study", ["list"], 0),
        ("annlab.run", ["model.depth=-1"], 2),
        ("annlab.run", ["optimizer.lr=0"], 2),
        ("annlab.run", ["model.depth=three"], 2),
        ("annlab.run", ["activation.name=swish"], 2),
    ],
)
def test_start_up_loads_nothing_heavy(module: str, args: list[str], exit_code: int, tmp_path: Path) -> None:
    heavy, code, out = loaded(module, args, tmp_path)
    assert code == exit_code, out[-2000:]
    assert heavy == [], f"{module} {' '.join(args)} imported {heavy}"


def test_help_is_annlabs_own_page(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "annlab.run", "--help", "activation=tanh"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    page = proc.stdout
    assert page.startswith("annlab: how activation functions and weight initialisation behave")
    assert "powered by Hydra" not in page
    assert "activation: custom, elu, gelu, identity," in page and "init: calibrated, calibrated_orthogonal," in page
    assert page.count("python -m annlab.") >= 3  # the three examples
    assert "sqlite:///mlflow.db" in page and "README.md" in page
    assert "activation:\n  name: tanh" in page  # the config, with the overrides given
    assert "hydra:" not in page
