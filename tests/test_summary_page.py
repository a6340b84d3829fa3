"""The report's summary page, against a golden file (tests/golden/summary_page.txt)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from annlab.read.store import Frames
from annlab.read.summary import summary_sections

GOLDEN = Path(__file__).parent / "golden" / "summary_page.txt"


def frames() -> Frames:
    def run(name: str, status: str = "FINISHED", diverged: bool = False, reason: str = "", seed: int = 0) -> dict:
        act, init = name.split("-")[:2]
        return {
            "run_id": name,
            "run_name": name,
            "status": status,
            "diverged": diverged,
            "reason": reason,
            "model": "mlp",
            "activation": act,
            "init": init,
            "depth": 3,
            "dataset": "moons",
            "seed": seed,
            "start_time": pd.Timestamp("2026-11-28 06:00"),
            "code_version": "c7b41ae",
            "val_score": 0.9,
            "score_name": "acc",
        }

    runs = pd.DataFrame(
        [
            run("relu-kaiming-d3-moons-s0"),
            run("relu-kaiming-d3-moons-s1", seed=1),
            run("tanh-normal-d3-moons-s0", diverged=True, reason="training loss turned non-finite at step 7"),
            run("relu-xavier-d3-moons-s0", status="FAILED", reason="RuntimeError: out of memory"),
            run("relu-pytorch-d3-moons-s0", status="KILLED", reason="ended by a later sweep: its process 4242 is gone"),
        ]
    )
    return Frames(runs, pd.DataFrame(columns=["run_id", "step", "layer", "stat", "value"]), pd.DataFrame())


def rendered() -> str:
    sections = summary_sections(
        "demo", frames(), ["outcomes"], {"vanishing_depth": "needs runs at 2 or more depths"}, 1e-2
    )
    return "\n".join(f"{heading}\n" + "\n".join(f"- {line}" for line in lines) for heading, lines in sections) + "\n"


def test_the_summary_page_matches_its_golden_file() -> None:
    if os.environ.get("ANNLAB_UPDATE_GOLDEN"):  # regenerate after a deliberate change, then review the diff
        GOLDEN.write_text(rendered())
    assert rendered() == GOLDEN.read_text()
