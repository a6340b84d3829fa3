"""The README's bad-input table: every invalid input gets its message, no traceback and no run."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result, run_cli
from servers import free_port

# (what, arguments, message fragment, exit status): the rows of the README's table
BAD_INPUTS = [
    ("unknown group option", ["activation=swish"], "Available options in 'activation'", 1),
    ("misspelled key", ["model.widht=8"], "Could not override 'model.widht'", 1),
    ("wrong type", ["model.depth=three"], "model.depth='three': Input should be a valid integer", 2),
    ("out-of-range number", ["optimizer.lr=0"], "optimizer.lr=0: Input should be greater than 0", 2),
    (
        "dataset/task mismatch",
        ["model=tutorial_example", "dataset=diabetes"],
        "model=tutorial_example is built for a multiclass task but dataset=diabetes is regression",
        2,
    ),
    (
        "model/data mismatch",
        ["model=tutorial_example", "dataset=iris"],
        "model=tutorial_example takes 3 input features but dataset=iris has 4",
        2,
    ),
    (
        "value the model would ignore",
        ["model=tutorial_example", "activation=tanh"],
        "activation=tanh: model=tutorial_example sets every layer's activation in model.layers",
        2,
    ),
    ("bad init params", ["+init.params.wobble=1"], "init='kaiming': bad params", 2),
    ("unreachable tracking server", ["tracking.uri=http://127.0.0.1:{port}"], "cannot reach the tracking server", 2),
    ("unusable tracking store", ["tracking.uri=sqlite:////proc/annlab/mlflow.db"], "cannot use this tracking store", 2),
    ("unwritable output folder", ["hydra.run.dir=/proc/annlab"], "hydra.run.dir=/proc/annlab: cannot write", 2),
]


def assert_refused(proc: Result | subprocess.CompletedProcess, message: str, status: int, cwd: Path) -> None:
    assert proc.returncode == status, proc.stderr[-2000:]
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    db = cwd / "mlflow.db"
    if db.exists():
        with sqlite3.connect(db) as con:
            assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


@pytest.mark.parametrize(("what", "args", "message", "status"), BAD_INPUTS, ids=[row[0] for row in BAD_INPUTS])
def test_bad_input_gets_its_message_and_leaves_no_run(
    what: str, args: list[str], message: str, status: int, tmp_path: Path, cli: Callable[..., Result]
) -> None:
    args = [a.format(port=free_port()) for a in args]
    assert_refused(cli([*args, "trainer.epochs=1"], tmp_path), message, status, tmp_path)


def test_bad_input_from_the_real_command_line(tmp_path: Path) -> None:
    """A row of the table through a real process: exit status, message and no traceback on stderr."""
    _, args, message, status = BAD_INPUTS[2]
    assert_refused(run_cli([*args, "trainer.epochs=1"], tmp_path), message, status, tmp_path)
