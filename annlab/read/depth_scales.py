"""Trainability over sigma_w^2 and depth as tidy frames, beside the correlation map's depth scale."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from annlab.net.correlation import critical_sigma_w2, depth_scale

TRAINED = 0.5  # final training accuracy at or above this: the cell trains (digits' chance is 0.1)
COLUMNS = ["activation", "sigma_w2", "sigma_b2", "depth", "train_acc", "trained", "n", "xi_c"]


def run_scales(networks: pd.DataFrame) -> pd.DataFrame:
    """Per run whose hidden layers after the first share one activation, sigma_w^2 and sigma_b^2
    (a plain random init of one activation): those, and the activation's params; the others are
    left out."""
    last = networks.groupby("run_id").layer.transform("max")
    hidden = networks[(networks.layer > 1) & (networks.layer < last)]
    agg = hidden.groupby("run_id").agg(
        sigma_w2=("sigma_w2", "mean"),
        spread=("sigma_w2", lambda s: float(s.max() - s.min())),
        sigma_b2=("sigma_b2", "mean"),
        kinds=("activation", "nunique"),
        activation=("activation", "first"),
        activation_params=("activation_params", "first"),
    )
    same = agg[(agg.spread <= 1e-9 * agg.sigma_w2.abs()) & np.isfinite(agg.sigma_w2) & (agg.kinds == 1)]
    return same.drop(columns=["spread", "kinds"]).reset_index()


def cells(runs: pd.DataFrame, epochs: pd.DataFrame, networks: pd.DataFrame) -> pd.DataFrame:
    """Per activation x sigma_w^2 x depth: the mean final training accuracy over seeds (a run lost
    to divergence or failure counts as 0), the share of seeds that reached TRAINED, and xi_c at
    that sigma_w^2 and sigma_b^2 (inf on the critical line, NaN where the signal dies or explodes)."""
    scales = run_scales(networks)
    if scales.empty:
        return pd.DataFrame(columns=COLUMNS)
    last = epochs[epochs.metric == "train/acc"].sort_values("epoch").groupby("run_id").value.last()
    frame = runs.drop(columns=["activation"]).merge(scales, on="run_id")
    ended = frame.status.eq("FINISHED") & ~frame.diverged
    frame = frame.assign(train_acc=frame.run_id.map(last).where(ended, 0.0).fillna(0.0))
    frame = frame.assign(sigma_w2=frame.sigma_w2.round(6), sigma_b2=frame.sigma_b2.round(6))
    keys = ["activation", "activation_params", "sigma_w2", "sigma_b2", "depth"]
    out = (
        frame.assign(trained=frame.train_acc >= TRAINED)
        .groupby(keys)
        .agg(train_acc=("train_acc", "mean"), trained=("trained", "mean"), n=("run_id", "size"))
        .reset_index()
    )
    scale = {
        key: _xi(*key)
        for key in out[["activation", "activation_params", "sigma_w2", "sigma_b2"]]
        .drop_duplicates()
        .itertuples(index=False)
    }
    xi = [scale[(r.activation, r.activation_params, r.sigma_w2, r.sigma_b2)] for r in out.itertuples()]
    return out.assign(xi_c=xi)[[*COLUMNS, "activation_params"]]


def _xi(activation: str, params: str, sigma_w2: float, sigma_b2: float) -> float:
    found = depth_scale(activation, json.loads(params), sigma_w2, sigma_b2)
    return found.xi_c if found is not None else math.nan


def critical(table: pd.DataFrame) -> pd.DataFrame:
    """Per activation (and sigma_b^2) of `cells`: the critical sigma_w^2 (NaN where none is found)."""
    rows = []
    for (act, params, sigma_b2), _ in table.groupby(["activation", "activation_params", "sigma_b2"]):
        try:
            value = critical_sigma_w2(act, json.loads(params), sigma_b2)
        except ValueError:
            value = math.nan
        rows.append({"activation": act, "activation_params": params, "sigma_b2": sigma_b2, "critical": value})
    return pd.DataFrame(rows, columns=["activation", "activation_params", "sigma_b2", "critical"])


def deepest_trainable(table: pd.DataFrame) -> pd.Series:
    """Per sigma_w^2 of one activation's `cells`: the deepest depth at which the cell trains (0: none)."""
    trained = table[table.trained >= 0.5]
    deepest = trained.groupby("sigma_w2").depth.max()
    return deepest.reindex(sorted(table.sigma_w2.unique()), fill_value=0)


def curves(table: pd.DataFrame, times: tuple[float, ...] = (3.0, 6.0, 9.0), points: int = 60) -> pd.DataFrame:
    """Per activation and sigma_b^2 of `cells`: `times` xi_c over a fine grid of sigma_w^2 spanning
    the cells' (6 xi_c: the depth to which the theory says nets train)."""
    out = []
    for (act, params, sigma_b2), part in table.groupby(["activation", "activation_params", "sigma_b2"]):
        grid = np.linspace(part.sigma_w2.min(), part.sigma_w2.max(), points)
        xi = np.array([_xi(act, params, float(s), sigma_b2) for s in grid])
        for k in times:
            out.append(
                pd.DataFrame({"activation": act, "sigma_b2": sigma_b2, "sigma_w2": grid, "times": k, "depth": k * xi})
            )
    return (
        pd.concat(out, ignore_index=True)
        if out
        else pd.DataFrame(columns=["activation", "sigma_b2", "sigma_w2", "times", "depth"])
    )
