"""Study output_layers: the check of its finding (the grid is experiments/output_layers.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from annlab.studies.common import MissingData, Study, Verdict

if TYPE_CHECKING:
    from annlab.read.store import Frames

FINDING = "the output layer follows the task: sigmoid for binary, softmax for multi-class, identity for regression"


def check(frames: Frames) -> Verdict:
    runs = frames.usable
    v = Verdict()
    outputs = {"binary": "sigmoid", "multiclass": "softmax", "regression": "identity"}
    floors = {"binary": ("acc", 0.9), "multiclass": ("acc", 0.85), "regression": ("r2", 0.5)}
    for task, (metric, floor) in floors.items():
        part = runs[runs.task == task]
        if part.empty:
            raise MissingData(f"no finished runs on a {task} dataset")
        for dataset, cell in part.groupby("dataset"):
            score = cell.val_score.mean()
            v.add(
                f"{task} ({dataset}), output {outputs[task]}",
                f"val/{metric} {score:.3f}",
                f">= {floor}",
                score >= floor and set(cell.score_name) == {metric},
            )
    return v


STUDY = Study("output_layers", FINDING, check)
