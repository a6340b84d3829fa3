"""The report card of one activation: its rows from the studies' own analysis, its console table
and PDF, and a shrunken battery through the command line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader

from annlab.card import main
from annlab.card_table import _theory_rows, text

USER = Path(__file__).parent / "userparts"
ROWS = (
    "critical gain at the fixed point (calculate_gain)",
    "critical gains per layer, depth 10",
    "vanishing depth at step 0, xavier",
    "vanishing depth at step 0, kaiming",
    "vanishing depth at step 0, critical",
    "log10 first/output at depth 50, critical",
    "log10 first/output at depth 50, calibrated",
    "trainability at depth 20, xavier",
    "trainability at depth 20, critical",
    "tuned accuracy, IQM [95% CI]",
)


def test_the_theory_rows_beside_torchs_gain() -> None:
    gains, per_layer = _theory_rows(["tanh", "relu", "gelu"])
    assert gains[1] == {"tanh": "1.000 (1.667)", "relu": "1.414 (1.414)", "gelu": "1.414 (-)"}
    assert per_layer[1]["relu"] == "1.00, 1.41, 1.41, ..., 1.41"
    table = text("tanh", ["relu", "gelu"], [gains, per_layer])
    assert table.splitlines()[1].startswith("critical gain at the fixed point (calculate_gain)  1.000 (1.667)")


@pytest.mark.slow  # 8 sweeps of a shrunken battery: ~1.5 min
def test_a_card_for_a_users_activation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    shutil.copytree(USER, tmp_path / "userparts")
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    shrink = ["trainer.epochs=2", "dataset.n_samples=200", "progress=off"]
    assert (
        main(["userparts.acts.bump", "--quick", "--against", "relu", "--uri", uri, "--out", str(tmp_path), *shrink])
        == 0
    )
    out = capsys.readouterr().out
    first = PdfReader(tmp_path / "card-bump.pdf").pages[0].extract_text().replace("\n", " ")
    for row in (*ROWS, "P(bump > baseline)"):
        assert row in out and row in first, row
    assert "annlab report card: bump against relu" in first


def test_a_card_of_an_activation_that_does_not_import_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["nosuch.Thing", "--quick", "--against", "relu", "--uri", f"sqlite:///{tmp_path / 'm.db'}"]) == 2
    assert not (tmp_path / "m.db").exists()
    err = capsys.readouterr().err
    assert "_target_=nosuch.Thing: module 'nosuch' does not import here" in err and "nothing was run" in err
