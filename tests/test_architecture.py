"""The layout holds: the read side never touches the write side; modules and functions stay small."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from conftest import FAST, ROOT, fresh_store

from annlab.config import RunConfig
from annlab.train.job import run_job

PACKAGE = ROOT / "annlab"
READ_SIDE = [*(PACKAGE / "read").glob("*.py"), *(PACKAGE / "studies").glob("*.py")]
WRITE_SIDE = ("annlab.train", "annlab.run", "annlab.net.model", "annlab.net.inits")
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 300, 50


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
    return names


def test_the_read_side_imports_nothing_of_the_write_side() -> None:
    for path in READ_SIDE:
        bad = sorted(n for n in imported(path) if n.startswith(WRITE_SIDE))
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


# The pages that read every kind of record (layer stats, recorded networks for the theory,
# distributions, learned parameters): drawing the rest adds time, not imports.
PAGES = ["activations", "gradient_flow", "activation_distributions"]


def test_building_a_report_imports_no_training_code_and_builds_no_model(
    config: Callable[..., RunConfig], tmp_path: Path
) -> None:
    """In a fresh process: a full report and a study check of a real store load no write-side
    module, no scikit-learn (datasets are never made again) and no model class."""
    uri = fresh_store(tmp_path)
    for depth, activation in ((1, "sigmoid"), (2, "sigmoid"), (1, "relu"), (2, "relu")):
        run_job(
            config(
                *FAST, f"model.depth={depth}", f"activation={activation}", "tracking.experiment=vanishing_gradients"
            ),
            uri=uri,
        )
    script = f"""
import sys
from annlab.read.report import main
from annlab.studies.cli import check_study
assert main(["--uri", "{uri}", "--out", "{tmp_path}"], only={PAGES!r}) == 0
check_study("vanishing_gradients", "{uri}")
loaded = sorted(m for m in sys.modules if m.startswith({WRITE_SIDE!r}) or m.split(".")[0] == "sklearn")
print("LOADED", loaded)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode in (0, 1) or "LOADED" in proc.stdout, proc.stderr[-3000:]
    assert "LOADED []" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (tmp_path / f"vanishing_gradients-{'-'.join(PAGES)}.pdf").is_file()
    assert "theory sigmoid + kaiming" in proc.stdout  # the mean-field rows came from the recorded networks


def test_no_module_over_300_lines_and_no_function_over_50() -> None:
    long_functions = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} is over {MAX_MODULE_LINES} lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                reason = ast.get_docstring(node) or ""
                if length > MAX_FUNCTION_LINES and "long because" not in reason:
                    long_functions.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert not long_functions, "functions over 50 lines without a stated reason:\n" + "\n".join(long_functions)


def test_the_entry_point_and_annlabs_sweeper_import_one_way() -> None:
    """annlab's sweeper uses the entry point's expansion and pre-check; the entry point imports
    nothing of the sweeper (it registers it by the name the config gives)."""
    sweeper = ROOT / "hydra_plugins" / "annlab_launchers" / "sweeper.py"
    assert not [n for n in imported(PACKAGE / "run.py") if n.startswith("hydra_plugins")]
    assert not [n for n in imported(PACKAGE / "jobs.py") if n.startswith("hydra_plugins")]
    assert "annlab.run" in imported(sweeper)
