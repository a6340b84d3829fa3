"""Study seed_example: the check of its finding (the grid is experiments/seed_example.yaml)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from annlab.lazy import lazy
from annlab.record import SUMMARY_FILE
from annlab.studies.common import MissingData, Study, Verdict

if TYPE_CHECKING:
    from annlab.read.store import Frames

# Loaded at the first check, not at import: `python -m annlab.study list` stays light.
store = lazy("annlab.read.store")

FINDING = (
    "the tutorial's own network, as its runs recorded it: 26 parameters (12, 8, 6); layers linear1 "
    "(xavier_normal + sigmoid), linear2 (kaiming_normal + relu) and out (PyTorch's init + softmax)"
)


EXPECTED_ROWS = [("Linear-1", [5, 3], 12), ("Linear-2", [5, 2], 8), ("Linear-3", [5, 2], 6)]
SUMMARY_ROW = re.compile(r"^\s*(\S+-\d+)\s+(\[[\d, ]+\])\s+([\d,]+)\s*$")


def summary_rows(table: str) -> list[tuple[str, list[int], int]]:
    """The (layer, output shape, params) rows of a recorded torchsummary-style table."""
    rows = []
    for line in table.splitlines():
        if m := SUMMARY_ROW.match(line):
            rows.append((m[1], json.loads(m[2]), int(m[3].replace(",", ""))))
    return rows


def check(frames: Frames) -> Verdict:
    """Read from what the run recorded (its summary table and network table): nothing is rebuilt."""
    runs = frames.usable
    if runs.empty:
        raise MissingData("no finished run of the tutorial's network")
    v = Verdict()
    first = runs.head(1)
    table = store.load_text(first, SUMMARY_FILE, frames.uri)
    rows = summary_rows(table)
    v.add(
        "summary rows",
        ", ".join(f"{name} {shape} {n}" for name, shape, n in rows),
        ", ".join(f"{name} {shape} {n}" for name, shape, n in EXPECTED_ROWS),
        rows == EXPECTED_ROWS,
    )
    totals = re.findall(r"^(Total|Trainable) params: ([\d,]+)", table, flags=re.M)
    shown = " / ".join(n for _, n in totals)
    v.add("total / trainable params", shown, "26 / 26", shown == "26 / 26")
    network = store.load_networks(first, frames.uri).sort_values("layer")
    layers = [f"{r.name}: {r.fan_in} -> {r.fan_out} {r.init} + {r.activation}" for r in network.itertuples()]
    v.add(
        "layers (name: shape, init, activation)",
        "; ".join(layers),
        "linear1: 3 -> 3 xavier_normal + sigmoid; linear2: 3 -> 2 kaiming_normal + relu; out: 2 -> 2 pytorch + softmax",
        layers
        == [
            "linear1: 3 -> 3 xavier_normal + sigmoid",
            "linear2: 3 -> 2 kaiming_normal + relu",
            "out: 2 -> 2 pytorch + softmax",
        ],
    )
    print(table)
    return v


STUDY = Study("seed_example", FINDING, check)
