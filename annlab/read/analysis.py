"""Pure aggregations of tidy run frames: means with 95% intervals over seeds, crossings, findings."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

# Activations whose flat regions are measured as saturation; and the ReLU family, as death.
BOUNDED = ("sigmoid", "tanh")
RELU_FAMILY = ("relu", "leaky_relu", "prelu", "elu", "selu", "gelu", "silu", "softplus")
SYMMETRIC_INITS = ("zeros", "ones", "constant")
KEYS = ["activation", "init", "depth", "dataset"]


def mean_ci(frame: pd.DataFrame, by: list[str], value: str = "value", level: float = 0.95) -> pd.DataFrame:
    """Mean of `value` per group with a Student-t interval: mean +- t * sd / sqrt(n).

    One observation gives a zero-width interval (nothing to estimate the spread from).
    """
    grouped = frame.groupby(by, observed=True)[value]
    out = grouped.agg(mean="mean", sd="std", n="count").reset_index()
    t = sps.t.ppf((1 + level) / 2, np.maximum(out.n - 1, 1))
    half = np.where(out.n > 1, t * out.sd.fillna(0) / np.sqrt(out.n), 0.0)
    out["lo"], out["hi"] = out["mean"] - half, out["mean"] + half
    return out.drop(columns="sd")


def with_runs(frame: pd.DataFrame, runs: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """`frame` with the runs' grid columns (activation, init, depth, dataset, seed) joined on."""
    cols = ["run_id", *(columns or [*KEYS, "seed"])]
    return frame.merge(runs[cols], on="run_id", how="inner")


def stat_at(layers: pd.DataFrame, stat: str, when: str) -> pd.DataFrame:
    """Rows of `stat` at each run's first probe step (`when="first"`) or last (`"last"`)."""
    rows = layers[layers.stat == stat]
    steps = rows.groupby("run_id", observed=True).step.transform("min" if when == "first" else "max")
    return rows[rows.step == steps]


def log_mean_ci(frame: pd.DataFrame, by: list[str], value: str = "value") -> pd.DataFrame:
    """Geometric mean and interval: `mean_ci` of log10(value), mapped back. For quantities that
    span decades (gradient norms); exact zeros have no logarithm and are left out."""
    positive = frame[frame[value] > 0].assign(_log=lambda d: np.log10(d[value]))
    out = mean_ci(positive, by, value="_log")
    out[["mean", "lo", "hi"]] = 10 ** out[["mean", "lo", "hi"]]
    return out


def gradient_flow(layers: pd.DataFrame, runs: pd.DataFrame, when: str) -> pd.DataFrame:
    """grad_z_norm per layer, geometric mean and interval over seeds, per activation x init x
    depth x dataset. Layers whose gradient is exactly 0 (a zero init) have no row."""
    return log_mean_ci(with_runs(stat_at(layers, "grad_z_norm", when), runs), [*KEYS, "layer"])


def vanishing_ratios(layers: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per run at step 0: log10 of first-layer grad_z_norm over the output layer's."""
    first = stat_at(layers, "grad_z_norm", "first")
    by_run = first.groupby("run_id", observed=True)
    top = first.loc[by_run.layer.idxmin(), ["run_id", "value"]].set_index("run_id").value
    out = first.loc[by_run.layer.idxmax(), ["run_id", "value"]].set_index("run_id").value
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log10(top / out)
    frame = ratio.rename("log10_ratio").reset_index()
    frame = frame[np.isfinite(frame.log10_ratio)]
    return with_runs(frame, runs)


def vanishing_depth(ratios: pd.DataFrame) -> pd.DataFrame:
    """Mean log10 ratio and interval over seeds, per activation x init x dataset x depth."""
    return mean_ci(ratios, ["activation", "init", "dataset", "depth"], value="log10_ratio")


def crossing_depth(depths: np.ndarray, log_ratios: np.ndarray, threshold: float) -> float:
    """Where a curve of log10 ratios over depth first falls below log10(threshold), by linear
    interpolation between the grid depths around it; NaN if it never does."""
    limit = math.log10(threshold)
    order = np.argsort(depths)
    d, r = np.asarray(depths, float)[order], np.asarray(log_ratios, float)[order]
    below = np.flatnonzero(r < limit)
    if not len(below):
        return float("nan")
    i = int(below[0])
    if i == 0:
        return float(d[0])
    return float(d[i - 1] + (d[i] - d[i - 1]) * (r[i - 1] - limit) / (r[i - 1] - r[i]))


def crossing_depths(agg: pd.DataFrame, threshold: float = 1e-2) -> pd.DataFrame:
    """Per activation x init x dataset: the (interpolated) depth at which the mean ratio falls
    below `threshold`, and the ratio at the deepest depth measured."""
    rows = []
    for (activation, init, dataset), curve in agg.groupby(["activation", "init", "dataset"], observed=True):
        deepest = curve.loc[curve.depth.idxmax()]
        rows.append(
            {
                "activation": activation,
                "init": init,
                "dataset": dataset,
                "crossing_depth": crossing_depth(curve.depth.to_numpy(), curve["mean"].to_numpy(), threshold),
                "max_depth": int(deepest.depth),
                "ratio_at_max_depth": 10 ** float(deepest["mean"]),
            }
        )
    return pd.DataFrame(rows)


def outcomes(runs: pd.DataFrame) -> pd.DataFrame:
    """Final validation score (accuracy or R^2), mean over seeds, per grid cell."""
    return mean_ci(runs.dropna(subset=["val_score"]), [*KEYS, "score_name"], value="val_score")


def curves(epochs: pd.DataFrame, runs: pd.DataFrame, metric: str = "val/loss") -> pd.DataFrame:
    """`metric` per epoch, mean and interval over seeds, per activation x init x depth x dataset."""
    return mean_ci(with_runs(epochs[epochs.metric == metric], runs), [*KEYS, "epoch"])


def over_training(layers: pd.DataFrame, runs: pd.DataFrame, stat: str, by: list[str]) -> pd.DataFrame:
    """`stat` per layer and probe step, mean over runs, grouped by `by`."""
    return mean_ci(with_runs(layers[layers.stat == stat], runs), [*by, "layer", "step"])


def steps_to_fraction(epochs: pd.DataFrame, runs: pd.DataFrame, fraction: float) -> pd.Series:
    """Per run: the optimiser step at which its training loss first falls to `fraction` of its
    value at step 0, interpolated linearly between the epochs that bracket it (the loss is taken
    once an epoch); NaN where it never does within the run."""
    rows = epochs[epochs.metric == "train/loss"].merge(runs[["run_id", "steps"]], on="run_id")
    out = {}
    for run_id, part in rows.groupby("run_id"):
        part = part.sort_values("epoch")
        loss, epoch = part.value.to_numpy(float), part.epoch.to_numpy(float)
        per_epoch = float(part.steps.iloc[0]) / max(epoch[-1], 1.0)
        below = np.flatnonzero(loss <= fraction * loss[0])
        if not len(below) or not np.isfinite(loss[0]):
            out[run_id] = math.nan
            continue
        k = int(below[0])
        share = (loss[k - 1] - fraction * loss[0]) / (loss[k - 1] - loss[k]) if k else 0.0
        out[run_id] = per_epoch * (epoch[k - 1] + share * (epoch[k] - epoch[k - 1]) if k else epoch[0])
    return pd.Series(out, name="steps_to_fraction", dtype=float)


def hidden_only(layers: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of hidden layers (1..depth of their run): the output layer's activation is the task's."""
    return layers[layers.layer <= layers.run_id.map(runs.set_index("run_id").depth).astype(int)]


def layer_activations(runs: pd.DataFrame, networks: pd.DataFrame) -> pd.DataFrame:
    """The activation of every hidden layer of `runs` (run_id, layer, layer_activation): a uniform
    model's is its run's; a per-layer model's comes from its recorded network (`networks`)."""
    uniform = runs[runs.model == "mlp"]
    rows = [
        (r, layer, a)
        for r, d, a in zip(uniform.run_id, uniform.depth, uniform.activation, strict=True)
        for layer in range(1, int(d) + 1)
    ]
    frame = pd.DataFrame(rows, columns=["run_id", "layer", "layer_activation"])
    if not networks.empty:
        per_layer = networks[networks.run_id.isin(set(runs.run_id) - set(uniform.run_id))]
        depth = per_layer.run_id.map(runs.set_index("run_id").depth)
        hidden = per_layer[per_layer.layer <= depth][["run_id", "layer", "activation"]]
        frame = pd.concat([frame, hidden.rename(columns={"activation": "layer_activation"})], ignore_index=True)
    return frame


def _health_panel(runs: pd.DataFrame) -> pd.Series:
    """What a health panel shows: `activation + init` for a uniform model, the model's name for
    a per-layer one (its layers' activations differ)."""
    per_layer = runs.model != "mlp"
    return (runs.activation + " + " + runs.init).where(~per_layer, runs.model)


def activation_health(layers: pd.DataFrame, runs: pd.DataFrame, layer_acts: pd.DataFrame) -> pd.DataFrame:
    """saturated_frac of the layers with a bounded activation and dead_frac of the ReLU family's,
    per layer over training, a panel per model (see `_health_panel`); hidden layers only (the
    output layer's activation is the task's). A per-layer model with a sigmoid and a relu layer
    shows up in both."""
    hidden = hidden_only(layers, runs).merge(layer_acts, on=["run_id", "layer"])
    runs = runs.assign(group=_health_panel(runs))
    parts = []
    for stat, family, what in (("saturated_frac", BOUNDED, "saturated"), ("dead_frac", RELU_FAMILY, "dead")):
        rows = hidden[(hidden.stat == stat) & hidden.layer_activation.isin(family)]
        if rows.empty:
            continue
        part = mean_ci(with_runs(rows, runs, ["group"]), ["group", "layer", "step"])
        kinds = rows.merge(runs[["run_id", "group", "model"]], on="run_id").groupby("group")
        label = {
            g: f"{g}: {what}"
            + ("" if (k.model == "mlp").all() else f" ({', '.join(sorted(set(k.layer_activation)))} layers)")
            for g, k in kinds
        }
        parts.append(part.assign(stat=stat, panel=part.group.map(label)))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def learned_slopes(layers: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """PReLU's learned slope (act_param_mean) per hidden layer at each run's last probe step,
    mean and interval over the runs whose layer learns one."""
    last = stat_at(layers[layers.stat == "act_param_mean"], "act_param_mean", "last")
    if last.empty:
        return pd.DataFrame(columns=["layer", "mean", "n", "lo", "hi"])
    return mean_ci(last[last.run_id.isin(set(runs.run_id))], ["layer"])


def correlation_map(layers: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """example_cosine of every hidden layer at step 0, mean and interval over seeds, per grid cell
    and layer; empty where the runs did not record it (older stores)."""
    rows = stat_at(hidden_only(layers, runs), "example_cosine", "first").dropna(subset=["value"])
    return mean_ci(with_runs(rows, runs), [*KEYS, "layer"]) if len(rows) else pd.DataFrame()


def symmetry(layers: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """unit_cosine of hidden layers over training, per init."""
    hidden = hidden_only(layers, runs)
    return over_training(hidden, runs, "unit_cosine", ["init"])


def status_counts(runs: pd.DataFrame) -> dict[str, int]:
    """Runs by outcome: finished (and not diverged), diverged, failed, killed, running."""
    finished = runs.status == "FINISHED"
    counts = {
        "finished": int((finished & ~runs.diverged).sum()),
        "diverged": int((finished & runs.diverged).sum()),
    }
    for status in ("FAILED", "KILLED", "RUNNING", "SCHEDULED"):
        counts[status.lower()] = int((runs.status == status).sum())
    return {k: v for k, v in counts.items() if v or k in ("finished", "diverged", "failed")}


def findings(crossings: pd.DataFrame, scores: pd.DataFrame, sym: pd.DataFrame, threshold: float) -> list[str]:
    """The report's findings, one sentence each, with their numbers."""
    lines = []
    for row in crossings.itertuples():
        if math.isnan(row.crossing_depth):
            lines.append(
                f"{row.activation} + {row.init}: the first/output gradient ratio stays above {threshold:g} up to "
                f"depth {row.max_depth} (ratio {row.ratio_at_max_depth:.2g} there)."
            )
        else:
            lines.append(
                f"{row.activation} + {row.init}: the first/output gradient ratio falls below {threshold:g} at "
                f"depth {row.crossing_depth:.1f} (interpolated; {row.ratio_at_max_depth:.2g} at depth {row.max_depth})."
            )
    if len(scores):
        best = scores.loc[scores["mean"].idxmax()]
        lines.append(
            f"Best final validation {best.score_name}: {best['mean']:.3f} with {best.activation} + {best.init} "
            f"at depth {best.depth} on {best.dataset}."
        )
    if len(sym):
        for init, part in sym.groupby("init", observed=True):
            if init in SYMMETRIC_INITS:
                lines.append(
                    f"{init} init: hidden-layer unit_cosine stays between {part['mean'].min():.4f} and "
                    f"{part['mean'].max():.4f} over training (1.0: symmetry never broken)."
                )
    return lines


def measured_chi(layers: pd.DataFrame, runs: pd.DataFrame, networks: pd.DataFrame) -> pd.DataFrame:
    """Per run at step 0: the measured backward factor chi (the geometric mean over hidden layers
    of (||dL/dz_l|| / ||dL/dz_{l+1}||)^2) against the mean gain of its hidden layers after layer 1
    (from its recorded network), with the run's activation and init."""
    first = stat_at(layers, "grad_z_norm", "first")
    rows = []
    for run_id, part in first.groupby("run_id", observed=True):
        norms = part.sort_values("layer").value.to_numpy(dtype=float)
        net = networks[networks.run_id == run_id].sort_values("layer")
        if len(norms) < 3 or net.empty or (norms <= 0).any():
            continue
        chi = float(np.exp(2 * np.mean(np.log(norms[:-1] / norms[1:]))))
        rows.append({"run_id": run_id, "gain": float(net.gain.iloc[1:].mean()), "chi": chi})
    return with_runs(pd.DataFrame(rows, columns=["run_id", "gain", "chi"]), runs, ["activation", "init"])
