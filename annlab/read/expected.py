"""What the mean-field theory expects of the networks runs recorded (no dataset or model is built)."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pandas as pd

from annlab import record
from annlab.net.theory import Prediction, network_priors, prediction_for


def predictions(networks: pd.DataFrame) -> dict[str, Prediction]:
    """The prediction for each run in `networks` (its `load_networks` rows), by run id."""
    out = {}
    for run_id, network in networks.groupby("run_id", observed=True):
        layers, moment = network_priors(network)
        out[str(run_id)] = prediction_for(layers, moment)
    return out


def log10_ratios(networks: pd.DataFrame, runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The predicted log10 first/output grad_z_norm ratio per grid cell (`keys`), from one run of
    each cell (seeds share a prediction); NaN where an init has no mean-field description."""
    first = runs.drop_duplicates(keys).set_index("run_id")
    found = predictions(networks[networks.run_id.isin(first.index)])
    rows = [
        {**{k: first.loc[run_id, k] for k in keys}, "predicted": p.log10_first_over_last} for run_id, p in found.items()
    ]
    return pd.DataFrame(rows, columns=[*keys, "predicted"])


def profiles(networks: pd.DataFrame, at_init: pd.DataFrame, runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The predicted ||dL/dz|| per layer for each grid cell at step 0, anchored at the measured
    output layer of the cell (`at_init`: the gradient-flow aggregate)."""
    cells = runs.drop_duplicates(keys).set_index("run_id")
    rows = []
    for run_id, prediction in predictions(networks[networks.run_id.isin(cells.index)]).items():
        cell = cells.loc[run_id]
        match = at_init[np.logical_and.reduce([at_init[k] == cell[k] for k in keys])]
        output = match[match.layer == int(cell.depth) + 1]["mean"]
        if output.empty or not all(map(math.isfinite, prediction.chi)):
            continue
        for layer, value in enumerate(prediction.grad_profile(float(output.iloc[0])), start=1):
            rows.append({**{k: cell[k] for k in keys}, "layer": layer, "predicted": value})
    return pd.DataFrame(rows)


def correlation_map(networks: pd.DataFrame, runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The correlation map's prediction of example_cosine per grid cell (`keys`) and hidden layer,
    the mean over the cell's runs (each predicted for its own probe batch); empty where the runs
    recorded none (older stores)."""
    column = record.COSINE_THEORY
    if networks.empty or column not in networks:
        return pd.DataFrame()
    rows = networks[["run_id", "layer", column]].dropna().merge(runs[["run_id", *keys]], on="run_id")
    return (
        rows.groupby([*keys, "layer"], as_index=False, observed=True)[column]
        .mean()
        .rename(columns={column: "predicted"})
    )


def gain_map(activations: list[str], gains: np.ndarray) -> pd.DataFrame:
    """The predicted backward factor chi at the length map's fixed point against the gain, per
    activation (zero bias), with the gains xavier (square layers: 1), kaiming (sqrt(2)) and the
    critical gain (chi = 1) give."""
    from annlab.net.theory import chi_at_fixed_point, critical_gain

    rows = []
    for act in activations:
        rows += [{"activation": act, "gain": g, "chi": chi_at_fixed_point(act, None, float(g))} for g in gains]
        with contextlib.suppress(ValueError):
            rows.append({"activation": act, "gain": critical_gain(act), "chi": 1.0, "marked": "critical"})
        for name, g in (("xavier", 1.0), ("kaiming", math.sqrt(2))):
            rows.append({"activation": act, "gain": g, "chi": chi_at_fixed_point(act, None, g), "marked": name})
    return pd.DataFrame(rows)


def depth_scales(activations: list[str]) -> pd.DataFrame:
    """Per activation and init (xavier on square layers: gain 1; kaiming: sqrt(2); critical: the
    gain where chi = 1 at the fixed point), zero bias: q*, the correlation map's stable fixed point
    c*, its slope chi_c and the depth scale xi_c (Schoenholz et al. 2017); NaN but q* where q* is 0
    or infinite (no correlation is defined there)."""
    from annlab.net.correlation import depth_scale
    from annlab.net.theory import critical_gain, fixed_point

    rows = []
    for act in activations:
        gains = {"xavier": 1.0, "kaiming": math.sqrt(2)}
        with contextlib.suppress(ValueError):
            gains["critical"] = critical_gain(act)
        for init, gain in gains.items():
            scale = depth_scale(act, None, gain**2)
            row = {"activation": act, "init": init, "gain": gain}
            if scale is None:  # no fixed point of the correlation map: q* alone
                rows.append({**row, "q_star": fixed_point(act, None, gain**2)})
            else:
                rows.append(
                    {**row, "q_star": scale.q_star, "c_star": scale.c_star, "chi_c": scale.chi_c, "xi_c": scale.xi_c}
                )
    return pd.DataFrame(rows, columns=["activation", "init", "gain", "q_star", "c_star", "chi_c", "xi_c"])
