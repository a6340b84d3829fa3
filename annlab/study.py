"""The studies of experiments/: run one (`python -m annlab.study run NAME`), check its finding
(`python -m annlab.study check NAME`: exit 0 holds, 1 does not, 2 data missing)."""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from annlab import analysis
from annlab.config import parse_config
from annlab.job import prepare
from annlab.store import Frames, StoreError, load, load_configs
from annlab.summary import param_summary
from annlab.theory import prediction_for
from annlab.tracking import resolve_uri


@dataclass
class Verdict:
    """The rows a check prints: what, measured, expected, and whether it holds."""

    rows: list[tuple[str, str, str, bool]] = field(default_factory=list)

    def add(self, what: str, measured: str, expected: str, ok: bool) -> None:
        self.rows.append((what, measured, expected, bool(ok)))

    @property
    def holds(self) -> bool:
        return bool(self.rows) and all(ok for *_, ok in self.rows)

    def table(self) -> str:
        w = max((len(r[0]) for r in self.rows), default=4)
        m = max((len(r[1]) for r in self.rows), default=8)
        lines = [f"{'':4}{'what':<{w}}  {'measured':<{m}}  expected"]
        lines += [f"{'ok' if ok else 'NO':<4}{a:<{w}}  {b:<{m}}  {c}" for a, b, c, ok in self.rows]
        return "\n".join(lines)


class MissingData(RuntimeError):
    """The study's runs are not in the store (or lack what the check needs)."""


def _hidden(frames: Frames, stat: str) -> pd.DataFrame:
    """`stat` rows of the hidden layers of usable runs, with the runs' grid columns."""
    runs = frames.usable
    rows = frames.layers[frames.layers.stat == stat]
    rows = analysis.with_runs(rows, runs)
    return rows[rows.layer <= rows.depth]


def _need(frames: Frames, **values: Sequence[object]) -> None:
    runs = frames.usable
    for col, wanted in values.items():
        missing = sorted(set(wanted) - set(runs[col]), key=str)
        if missing:
            raise MissingData(f"no finished runs with {col} = {', '.join(map(str, missing))}")


# -- the checks -----------------------------------------------------------------------------------
def check_vanishing_gradients(frames: Frames, uri: str) -> Verdict:
    _need(frames, activation=["sigmoid", "relu"], init=["kaiming"])
    v = Verdict()
    ratios = analysis.vanishing_ratios(frames.layers, frames.usable)
    agg = analysis.vanishing_depth(ratios)
    crossings = analysis.crossing_depths(agg, 1e-2)
    for row in crossings.sort_values(["activation", "init"]).itertuples():
        shown = "never" if math.isnan(row.crossing_depth) else f"{row.crossing_depth:.1f}"
        measured = f"crosses 1e-2 at depth {shown}; {row.ratio_at_max_depth:.2g} at depth {row.max_depth}"
        if row.activation == "sigmoid":
            v.add(f"sigmoid + {row.init}", measured, "crosses at depth <= 5", row.crossing_depth <= 5)
        elif row.activation == "relu" and row.init == "kaiming":
            worst = agg[(agg.activation == "relu") & (agg.init == "kaiming")]["mean"].abs().max()
            v.add(
                "relu + kaiming",
                f"max |log10 ratio| {worst:.2f} up to depth {row.max_depth}",
                "within 1 decade at every depth",
                worst <= 1.0,
            )
        else:
            v.add(f"{row.activation} + {row.init}", measured, "(reported)", True)
    # Theory overlay: measured vs mean-field log10 ratio at step 0, per activation x init x depth.
    cells = frames.usable[
        frames.usable.activation.isin(["sigmoid", "tanh", "relu"])
        & frames.usable.init.isin(["xavier", "kaiming", "default"])
    ]
    configs = load_configs(cells.drop_duplicates(["activation", "init", "depth"]), uri)
    first = cells.drop_duplicates(["activation", "init", "depth"]).set_index("run_id")
    predicted = {
        (r.activation, r.init, r.depth): prediction_for(configs[i]).log10_first_over_last for i, r in first.iterrows()
    }
    merged = agg.assign(
        predicted=[
            predicted.get((a, i, d), np.nan) for a, i, d in zip(agg.activation, agg.init, agg.depth, strict=True)
        ]
    )
    merged = merged.dropna(subset=["predicted"])
    for (act, init), part in merged.groupby(["activation", "init"]):
        deepest = part.loc[part.depth.idxmax()]
        worst = (part["mean"] - part.predicted).abs().max()
        v.add(
            f"theory {act} + {init}",
            f"depth {deepest.depth}: {deepest['mean']:+.2f} vs {deepest.predicted:+.2f} predicted; max gap {worst:.2f}",
            "within 0.3 decades at every depth",
            worst <= 0.3,
        )
    return v


def check_symmetry_breaking(frames: Frames, uri: str) -> Verdict:
    _need(frames, init=["zeros", "ones", "constant", "xavier"], depth=[0])
    v = Verdict()
    cos = _hidden(frames, "unit_cosine")
    runs = frames.usable
    linear = runs[runs.depth == 0].val_score.mean()
    deep = runs[runs.depth > 0]
    for init in ("zeros", "ones", "constant"):
        c = cos[cos.init == init]
        acc = deep[deep.init == init].val_score.mean()
        v.add(
            f"{init}: hidden unit_cosine",
            f"min {c.value.min():.5f} over all layers and steps",
            ">= 0.999",
            c.value.min() >= 0.999,
        )
        v.add(
            f"{init}: val acc",
            f"{acc:.3f} (linear model {linear:.3f})",
            "no better than the linear model or chance (0.5), + 0.05",
            acc <= max(linear, 0.5) + 0.05,
        )
    for init in ("uniform", "normal", "xavier", "kaiming"):
        c = cos[(cos.init == init)]
        if c.empty:
            continue
        first = c[c.step == c.step.min()].value.max()
        acc = deep[deep.init == init].val_score.mean()
        v.add(f"{init}: hidden unit_cosine at step 0", f"max {first:.3f}", "< 0.99 (symmetry broken)", first < 0.99)
        if init != "uniform":  # U(0, 1) breaks symmetry but is far from a good init
            v.add(f"{init}: val acc", f"{acc:.3f} (linear {linear:.3f})", "> linear + 0.1", acc > linear + 0.1)
        else:
            v.add(f"{init}: val acc", f"{acc:.3f} (linear {linear:.3f})", "(reported)", True)
    return v


def check_dead_relu(frames: Frames, uri: str) -> Verdict:
    _need(frames, activation=["relu", "leaky_relu", "prelu"])
    v = Verdict()
    dead = _hidden(frames, "dead_frac")
    per_step = dead.groupby(["activation", "step"]).value.mean().reset_index()
    for act, part in per_step.groupby("activation"):
        part = part.sort_values("step")
        start, end, peak = part.value.iloc[0], part.value.iloc[-1], part.value.max()
        measured = f"dead_frac {start:.3f} at step 0 -> {end:.3f} at the end (peak {peak:.3f})"
        if act == "relu":
            v.add(
                "relu",
                measured,
                "grows (end >= start + 0.1) and stays (end >= 0.8 * peak)",
                end >= start + 0.1 and end >= 0.8 * peak,
            )
        else:
            v.add(act, measured, "stays near 0 (<= 0.02 throughout)", peak <= 0.02)
    return v


def _hidden_span(frames: Frames, stat: str, column: str, last_over_first: bool) -> pd.DataFrame:
    """Per run at step 0: log2 of `stat` at the last hidden layer over the first (or the
    inverse), in a column named `column`, with the runs' grid columns."""
    rows = _hidden(frames, stat)
    rows = rows[rows.step == rows.groupby("run_id").step.transform("min")]
    first = rows[rows.layer == 1].set_index("run_id").value
    last = rows[rows.layer == rows.depth].set_index("run_id").value
    ratio = np.log2(last / first if last_over_first else first / last)
    return analysis.with_runs(ratio.rename(column).reset_index(), frames.usable)


def _std_ratio(frames: Frames) -> pd.DataFrame:
    """log2 of the last hidden layer's a_std over the first's (forward signal)."""
    return _hidden_span(frames, "a_std", "log2_ratio", last_over_first=True)


def _grad_ratio(frames: Frames) -> pd.DataFrame:
    """log2 of the first hidden layer's grad_z_norm over the last's (backward signal)."""
    return _hidden_span(frames, "grad_z_norm", "log2_grad", last_over_first=False)


def check_init_matching(frames: Frames, uri: str) -> Verdict:
    _need(frames, init=["xavier", "kaiming", "normal"], activation=["relu"])
    v = Verdict()
    fwd, bwd = _std_ratio(frames), _grad_ratio(frames)
    both = fwd.merge(bwd[["run_id", "log2_grad"]], on="run_id")
    deepest = int(both.depth.max())
    deep = both[(both.depth == deepest) & both.init.isin(["xavier", "kaiming"])]
    for act, part in deep.groupby("activation"):
        by_init = part.groupby("init")[["log2_ratio", "log2_grad"]].mean()
        # Signal-preserving: activation std and gradient both within 2x from first to last layer.
        kept = (by_init.log2_ratio.abs() <= 1) & (by_init.log2_grad.abs() <= 1)
        shown = "; ".join(f"{i}: a_std {r.log2_ratio:+.1f}, grad {r.log2_grad:+.1f}" for i, r in by_init.iterrows())
        what = f"{act} at depth {deepest}, log2 last/first"
        if act == "sigmoid":  # its derivative peaks at 1/4: no variance-scaling init preserves it
            v.add(what, shown, "(reported: gradients shrink ~4x per layer under either init)", True)
            continue
        rule = "kaiming" if act in analysis.RELU_FAMILY else "xavier"
        other = "xavier" if rule == "kaiming" else "kaiming"
        expected = f"{rule} keeps both within 2x (|log2| <= 1)"
        if act in analysis.RELU_FAMILY:
            expected += f" and {other} does not"
        ok = bool(kept.get(rule, False)) and (act not in analysis.RELU_FAMILY or not kept.get(other, False))
        v.add(what, shown, expected, ok)
    # Plain N(0, 1): a diverged run is a run that did not train (chance, 0.5 on moons).
    runs = frames.runs[frames.runs.status == "FINISHED"]
    score = runs.val_score.where(~runs.diverged, 0.5)
    runs = runs.assign(score=score)
    for act in sorted(set(runs.activation) - {"sigmoid"}):
        rule = "kaiming" if act in analysis.RELU_FAMILY else "xavier"
        part = runs[runs.activation == act]
        for depth in sorted(part.depth.unique()):
            plain = part[(part.init == "normal") & (part.depth == depth)]
            matched = part[(part.init == rule) & (part.depth == depth)].score.mean()
            if plain.empty:
                continue
            shown = f"val acc {plain.score.mean():.3f} vs {rule} {matched:.3f}; {int(plain.diverged.sum())} diverged"
            if depth == part.depth.min():
                v.add(
                    f"{act} + normal(0, 1) at depth {depth}",
                    shown,
                    "tolerated (within 0.1)",
                    plain.score.mean() >= matched - 0.1,
                )
            else:
                v.add(
                    f"{act} + normal(0, 1) at depth {depth}",
                    shown,
                    "not tolerated (0.05 or more below)",
                    plain.score.mean() <= matched - 0.05,
                )
    return v


def check_deep_relu_he2015(frames: Frames, uri: str) -> Verdict:
    _need(frames, init=["xavier", "kaiming"])
    v = Verdict()
    ratios = _std_ratio(frames).groupby("init").log2_ratio.mean()
    runs = frames.usable
    chance = math.log(2)
    v.add(
        "xavier: log2 a_std last/first hidden",
        f"{ratios['xavier']:+.1f}",
        "about -15 (within -17 .. -13)",
        -17 <= ratios["xavier"] <= -13,
    )
    # Finite width (64) lets the std wander over 30 layers even where its expectation is kept.
    v.add(
        "kaiming: log2 a_std last/first hidden",
        f"{ratios['kaiming']:+.1f}",
        "about 0 (within -3 .. 3)",
        abs(ratios["kaiming"]) <= 3,
    )
    ep = analysis.with_runs(frames.epochs[frames.epochs.metric == "train/loss"], runs)
    final = ep[ep.epoch == ep.groupby("run_id").epoch.transform("max")].groupby("init").value.mean()
    acc = runs.groupby("init").val_score.mean()
    v.add(
        "xavier: final train loss",
        f"{final['xavier']:.3f} (val acc {acc['xavier']:.3f})",
        f"stays at chance (>= 0.95 * ln 2 = {0.95 * chance:.3f})",
        final["xavier"] >= 0.95 * chance,
    )
    v.add(
        "kaiming: final train loss",
        f"{final['kaiming']:.3f} (val acc {acc['kaiming']:.3f})",
        "trains (< 0.5 * ln 2, val acc >= 0.8)",
        final["kaiming"] < 0.5 * chance and acc["kaiming"] >= 0.8,
    )
    return v


def check_saturation_glorot2010(frames: Frames, uri: str) -> Verdict:
    _need(frames, activation=["sigmoid"], init=["default", "xavier"])
    v = Verdict()
    mean = _hidden(frames, "a_mean")
    sat = _hidden(frames, "saturated_frac")
    for init in ("default", "xavier"):
        m = mean[(mean.activation == "sigmoid") & (mean.init == init)]
        top = m[m.layer == m.depth].groupby("step").value.mean()
        low = m[m.layer == 1].groupby("step").value.mean()
        v.add(
            f"sigmoid + {init}: top hidden layer a_mean",
            f"{top.iloc[0]:.3f} at step 0 -> min {top.min():.3f} (layer 1 min {low.min():.3f})",
            "top layer driven towards 0 (min < 0.2)" if init == "default" else "(reported)",
            top.min() < 0.2 if init == "default" else True,
        )
    for init in ("default", "xavier"):
        s = sat[(sat.activation == "tanh") & (sat.init == init)].groupby("layer").value.max()
        if s.empty:
            continue
        v.add(f"tanh + {init}: max saturated_frac per layer", ", ".join(f"{x:.2f}" for x in s), "(reported)", True)
    return v


def check_output_layers(frames: Frames, uri: str) -> Verdict:
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


def check_seed_example(frames: Frames, uri: str) -> Verdict:
    runs = frames.usable
    if runs.empty:
        raise MissingData("no finished seed_example run")
    v = Verdict()
    config = load_configs(runs.head(1), uri)[runs.run_id.iloc[0]]
    cfg = parse_config(config)
    _, model, _ = prepare(cfg)
    summary = param_summary(model, (5, 3))
    shown = ", ".join(f"{r.layer} {r.output_shape} {r.params}" for r in summary.rows)
    v.add(
        "summary rows",
        shown,
        "Linear-1 [5, 3] 12, Linear-2 [5, 2] 8, Linear-3 [5, 2] 6",
        [(r.output_shape, r.params) for r in summary.rows] == [([5, 3], 12), ([5, 2], 8), ([5, 2], 6)],
    )
    v.add(
        "total / trainable params",
        f"{summary.total} / {summary.trainable}",
        "26 / 26",
        (summary.total, summary.trainable) == (26, 26),
    )
    my_data = torch.randn(5, 3)  # the seed's train(): my_data = torch.randn(5, 3)
    output = model.predict(my_data)
    v.add(
        "output of randn(5, 3)",
        f"shape {list(output.shape)}, rows sum to {output.sum(-1).min():.4f}..{output.sum(-1).max():.4f}",
        "shape [5, 2], softmax rows sum to 1",
        list(output.shape) == [5, 2] and torch.allclose(output.sum(-1), torch.ones(5)),
    )
    names = [n for n, _ in model.named_parameters()]
    v.add("named parameters", ", ".join(names), "3 weights and 3 biases", len(names) == 6)
    print(summary.table())
    for name, parameter in model.named_parameters():
        print(name, parameter.data.numpy().round(4).tolist())
    return v


@dataclass(frozen=True)
class Study:
    check: Callable[[Frames, str], Verdict]
    finding: str


STUDIES: dict[str, Study] = {
    "vanishing_gradients": Study(
        check_vanishing_gradients,
        "sigmoid gradients vanish (first/output < 1e-2) by depth 5; relu + kaiming keeps them within a decade; "
        "the mean-field prediction matches within 0.3 decades",
    ),
    "symmetry_breaking": Study(
        check_symmetry_breaking,
        "zeros/ones/constant never break symmetry and do no better than a linear model; "
        "random inits break it and do clearly better",
    ),
    "dead_relu": Study(
        check_dead_relu,
        "under a large learning rate relu's dead fraction grows and stays; leaky_relu, prelu and elu stay near zero",
    ),
    "init_matching": Study(
        check_init_matching,
        "the seed's rule: kaiming preserves the ReLU family's signal and xavier tanh's at depth 10; "
        "plain N(0,1) only works shallow",
    ),
    "deep_relu_he2015": Study(
        check_deep_relu_he2015,
        "30-layer ReLU: xavier shrinks the signal ~2^-15 and stays at chance; kaiming trains",
    ),
    "saturation_glorot2010": Study(
        check_saturation_glorot2010,
        "sigmoid with the standard init drives its top hidden layer towards 0 early in training",
    ),
    "output_layers": Study(
        check_output_layers,
        "the output layer follows the task: sigmoid for binary, softmax for multi-class, identity for regression",
    ),
    "seed_example": Study(
        check_seed_example, "the seed's own network: 26 parameters (12, 8, 6) and softmax outputs for randn(5, 3)"
    ),
}


def run_study(name: str, extra: Sequence[str]) -> int:
    """Run the study's grid through the Hydra entry point, as a user would."""
    tic = time.perf_counter()
    code = subprocess.call([sys.executable, "-m", "annlab.run", "-m", f"+experiments={name}", *extra])
    print(f"annlab study: {name} ran in {time.perf_counter() - tic:.0f}s (exit {code})")
    return code


def check_study(name: str, uri: str) -> int:
    """Print the measured figures beside the expectation; 0 holds, 1 does not, 2 data missing."""
    try:
        frames = load(uri, [name])
        verdict = STUDIES[name].check(frames, uri)
    except (StoreError, MissingData) as err:
        print(f"annlab study: {name}: data missing: {err} (run: python -m annlab.study run {name})", file=sys.stderr)
        return 2
    print(f"Study {name}: {STUDIES[name].finding}")
    counts = analysis.status_counts(frames.runs)
    print("runs: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    print(verdict.table())
    print(f"finding {'HOLDS' if verdict.holds else 'DOES NOT HOLD'}")
    return 0 if verdict.holds else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m annlab.study", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the studies and their findings")
    run = sub.add_parser("run", help="run a study's grid (extra Hydra overrides may follow)")
    run.add_argument("name", choices=sorted(STUDIES))
    check = sub.add_parser("check", help="check a study's finding")
    check.add_argument("name", choices=sorted(STUDIES))
    check.add_argument("--uri", help="tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)")
    args, extra = parser.parse_known_args(argv)
    if args.command == "list":
        for name, study in STUDIES.items():
            print(f"{name}: {study.finding}")
        return 0
    if args.command == "run":
        return run_study(args.name, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return check_study(args.name, resolve_uri(args.uri))


if __name__ == "__main__":
    sys.exit(main())
