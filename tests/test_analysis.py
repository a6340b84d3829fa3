"""Aggregations on hand-made frames with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from annlab.read import analysis

T_975_2DF = 4.302652729911275  # Student t, 97.5% quantile, 2 degrees of freedom


def runs_frame(rows: list[tuple[str, str, str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "run_id": r,
                "model": "mlp",
                "activation": a,
                "init": i,
                "depth": d,
                "dataset": "moons",
                "seed": s,
                "status": "FINISHED",
                "diverged": False,
                "val_score": 0.0,
                "score_name": "acc",
            }
            for r, a, i, d, s in rows
        ]
    )


def test_mean_ci_is_a_student_t_interval() -> None:
    frame = pd.DataFrame({"g": ["a", "a", "a", "b"], "value": [1.0, 2.0, 3.0, 5.0]})
    out = analysis.mean_ci(frame, ["g"]).set_index("g")
    half = T_975_2DF * 1.0 / math.sqrt(3)
    assert out.loc["a", "mean"] == pytest.approx(2.0)
    assert (out.loc["a", "lo"], out.loc["a", "hi"]) == pytest.approx((2 - half, 2 + half))
    assert out.loc["a", "n"] == 3
    assert out.loc["b", "lo"] == out.loc["b", "hi"] == 5.0  # one seed: no spread to estimate


def test_log_mean_ci_is_geometric_and_leaves_out_zeros() -> None:
    frame = pd.DataFrame({"g": ["a", "a", "a"], "value": [10.0, 1000.0, 0.0]})
    out = analysis.log_mean_ci(frame, ["g"]).iloc[0]
    assert out["mean"] == pytest.approx(100.0) and out.n == 2
    assert out.lo < 100.0 < out.hi


@pytest.mark.parametrize(
    ("depths", "ratios", "expected"),
    [
        ([1, 2, 4], [-1.0, -1.5, -3.0], 2 + 2 * 0.5 / 1.5),  # interpolated between depths 2 and 4
        ([1, 2, 4], [-2.5, -3.0, -4.0], 1.0),  # below from the start
        ([4, 1, 2], [-3.0, -1.0, -1.5], 2 + 2 * 0.5 / 1.5),  # order of the grid does not matter
    ],
)
def test_crossing_depth(depths: list[int], ratios: list[float], expected: float) -> None:
    assert analysis.crossing_depth(np.array(depths), np.array(ratios), 1e-2) == pytest.approx(expected)


def test_crossing_depth_never() -> None:
    assert math.isnan(analysis.crossing_depth(np.array([1, 5, 10]), np.array([0.1, -0.5, -1.9]), 1e-2))


def layer_rows(run: str, stat: str, values_by_step: dict[int, list[float]]) -> list[dict]:
    return [
        {"run_id": run, "step": step, "layer": layer + 1, "stat": stat, "value": v}
        for step, values in values_by_step.items()
        for layer, v in enumerate(values)
    ]


def test_vanishing_ratios_and_depth_aggregate_over_seeds() -> None:
    runs = runs_frame(
        [
            ("r1", "sigmoid", "xavier", 2, 0),
            ("r2", "sigmoid", "xavier", 2, 1),
            ("r3", "sigmoid", "xavier", 4, 0),
        ]
    )
    layers = pd.DataFrame(
        layer_rows("r1", "grad_z_norm", {0: [1e-3, 1e-2, 1e-1], 5: [1.0, 1.0, 1.0]})
        + layer_rows("r2", "grad_z_norm", {0: [1e-2, 1e-2, 1e-1]})
        + layer_rows("r3", "grad_z_norm", {0: [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]})
    )
    ratios = analysis.vanishing_ratios(layers, runs).set_index("run_id").log10_ratio
    assert ratios.to_dict() == pytest.approx({"r1": -2.0, "r2": -1.0, "r3": -4.0})
    agg = analysis.vanishing_depth(analysis.vanishing_ratios(layers, runs)).set_index("depth")
    assert agg.loc[2, "mean"] == pytest.approx(-1.5) and agg.loc[4, "mean"] == pytest.approx(-4.0)
    crossing = analysis.crossing_depths(agg.reset_index(), 1e-2).iloc[0]
    assert crossing.crossing_depth == pytest.approx(2 + 2 * 0.5 / 2.5)
    assert crossing.ratio_at_max_depth == pytest.approx(1e-4)


def test_gradient_flow_takes_the_first_or_last_step_of_each_run() -> None:
    runs = runs_frame([("r1", "relu", "kaiming", 1, 0)])
    layers = pd.DataFrame(layer_rows("r1", "grad_z_norm", {0: [1.0, 2.0], 10: [3.0, 4.0], 20: [5.0, 6.0]}))
    first = analysis.gradient_flow(layers, runs, "first").set_index("layer")["mean"]
    last = analysis.gradient_flow(layers, runs, "last").set_index("layer")["mean"]
    assert first.to_dict() == pytest.approx({1: 1.0, 2: 2.0}) and last.to_dict() == pytest.approx({1: 5.0, 2: 6.0})


def test_health_and_symmetry_keep_hidden_layers_and_the_right_family() -> None:
    runs = runs_frame([("r1", "relu", "kaiming", 2, 0), ("r2", "tanh", "zeros", 2, 0)])
    layers = pd.DataFrame(
        layer_rows("r1", "dead_frac", {0: [0.1, 0.3, 0.0]})
        + layer_rows("r1", "saturated_frac", {0: [0.0, 0.0, 0.0]})
        + layer_rows("r2", "saturated_frac", {0: [0.5, 0.7, 0.9]})
        + layer_rows("r2", "dead_frac", {0: [0.0, 0.0, 0.0]})
        + layer_rows("r2", "unit_cosine", {0: [1.0, 1.0, 0.2]})
    )
    health = analysis.activation_health(layers, runs, analysis.layer_activations(runs, pd.DataFrame()))
    assert set(zip(health.stat, health.panel, strict=True)) == {
        ("dead_frac", "relu + kaiming: dead"),
        ("saturated_frac", "tanh + zeros: saturated"),
    }
    assert health.layer.max() == 2  # the output layer (3) is the task's, not the hidden activation's
    sym = analysis.symmetry(layers, runs)
    assert sym["mean"].tolist() == [1.0, 1.0]


def test_outcomes_and_findings_and_counts() -> None:
    runs = runs_frame(
        [("r1", "relu", "kaiming", 2, 0), ("r2", "relu", "kaiming", 2, 1), ("r3", "tanh", "xavier", 2, 0)]
    )
    runs["val_score"] = [0.8, 0.9, 0.7]
    scores = analysis.outcomes(runs)
    best = scores.loc[scores["mean"].idxmax()]
    assert (best.activation, best.init, best["mean"]) == ("relu", "kaiming", pytest.approx(0.85))
    runs.loc[2, "diverged"] = True
    runs.loc[1, "status"] = "FAILED"
    assert analysis.status_counts(runs) == {"finished": 1, "diverged": 1, "failed": 1}
    crossings = pd.DataFrame(
        [
            {
                "activation": "sigmoid",
                "init": "xavier",
                "dataset": "moons",
                "crossing_depth": 3.4,
                "max_depth": 6,
                "ratio_at_max_depth": 2e-4,
            }
        ]
    )
    lines = analysis.findings(crossings, scores, pd.DataFrame(), 1e-2)
    assert lines[0].startswith("sigmoid + xavier: the first/output gradient ratio falls below 0.01 at depth 3.4")
    assert "0.850 with relu + kaiming" in lines[1]


def test_a_per_layer_model_shows_its_sigmoid_layer_as_saturation_and_its_relu_layer_as_death() -> None:
    """The tutorial's network: layer 1 sigmoid, layer 2 relu (from its recorded network table)."""
    runs = runs_frame([("t1", "sigmoid,relu", "xavier_normal,kaiming_normal", 2, 0)]).assign(model="tutorial_example")
    networks = pd.DataFrame({"run_id": "t1", "layer": [1, 2, 3], "activation": ["sigmoid", "relu", "softmax"]})
    layers = pd.DataFrame(
        layer_rows("t1", "saturated_frac", {0: [0.25, 0.0, 0.9]}) + layer_rows("t1", "dead_frac", {0: [0.0, 0.5, 0.0]})
    )
    acts = analysis.layer_activations(runs, networks)
    assert acts.layer_activation.tolist() == ["sigmoid", "relu"]  # the output layer is the task's
    health = analysis.activation_health(layers, runs, acts).set_index("stat")
    assert health.loc["saturated_frac", "panel"] == "tutorial_example: saturated (sigmoid layers)"
    assert health.loc["saturated_frac", "layer"] == 1 and health.loc["saturated_frac", "mean"] == 0.25
    assert health.loc["dead_frac", "panel"] == "tutorial_example: dead (relu layers)"
    assert health.loc["dead_frac", "layer"] == 2 and health.loc["dead_frac", "mean"] == 0.5
