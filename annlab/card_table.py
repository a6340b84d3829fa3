"""The report card's numbers, from the card's runs by the studies' own analysis, and its PDF."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

from annlab.read import analysis, robust
from annlab.read.store import Frames, StoreError, load
from annlab.studies import activation_ranking, trainability

Row = tuple[str, dict[str, str], str]  # what, value per activation, what it means
GAIN_NAMES = {"sigmoid", "tanh", "relu", "leaky_relu", "selu", "identity"}  # calculate_gain knows these


def _theory_rows(names: Sequence[str]) -> list[Row]:
    import torch

    from annlab.net.theory import critical_gain, critical_gains

    def at_fixed_point(a: str) -> str:
        try:
            mine = f"{critical_gain(a):.3f}"
        except ValueError:
            mine = "none"
        theirs = f"{torch.nn.init.calculate_gain('linear' if a == 'identity' else a):.3f}" if a in GAIN_NAMES else "-"
        return f"{mine} ({theirs})"

    def per_layer(a: str) -> str:
        gains = critical_gains([(a, None)] * 10, 1.0)
        return ", ".join(f"{g:.2f}" for g in gains[:3]) + f", ..., {gains[-1]:.2f}"

    return [
        ("critical gain at the fixed point (calculate_gain)", {a: at_fixed_point(a) for a in names},
         "the weight scale at which chi = 1 at the length map's fixed point; torch's gain beside it"),
        ("critical gains per layer, depth 10", {a: per_layer(a) for a in names},
         "layer 1, 2, 3, ..., output: chi = 1 from standardised inputs"),
    ]  # fmt: skip


def _frames(uri: str, experiment: str) -> Frames | None:
    try:
        return load(uri, [experiment])
    except StoreError:
        return None


def _vanishing_rows(f: Frames, names: Sequence[str]) -> list[Row]:
    agg = analysis.vanishing_depth(analysis.vanishing_ratios(f.layers, f.usable))
    found = analysis.crossing_depths(agg, 1e-2).set_index(["activation", "init"])
    rows = []
    for init in ("xavier", "kaiming", "critical"):
        values = {}
        for a in names:
            if (a, init) not in found.index:
                values[a] = "-"
                continue
            r = found.loc[(a, init)]
            values[a] = f"never (<= {r.max_depth})" if math.isnan(r.crossing_depth) else f"{r.crossing_depth:.1f}"
        meaning = "depth at which the first/output layer gradient-norm ratio falls below 1e-2"
        rows.append((f"vanishing depth at step 0, {init}", values, meaning))
    return rows


def _depth50_rows(f: Frames, names: Sequence[str]) -> list[Row]:
    agg = analysis.vanishing_depth(analysis.vanishing_ratios(f.layers, f.usable))
    deep = agg[agg.depth == agg.depth.max()].set_index(["activation", "init"])["mean"]
    depth = int(agg.depth.max()) if len(agg) else 50
    return [
        (f"log10 first/output at depth {depth}, {init}", {a: f"{deep.get((a, init), math.nan):+.2f}" for a in names},
         "0: gradients kept through every layer; negative: they vanish")
        for init in ("critical", "calibrated")
    ]  # fmt: skip


def _training_rows(f: Frames, names: Sequence[str]) -> list[Row]:
    table = trainability.scores(f)
    rows = []
    for init in ("xavier", "kaiming", "critical"):
        values = {a: f"{table.acc.get((a, init), math.nan):.2f}" for a in names}
        rows.append(
            (
                f"trainability at depth 20, {init}",
                values,
                "mean val acc on circles (0.5: chance; a lost run counts 0.5)",
            )
        )
    return rows


def _accuracy_rows(f: Frames, name: str, names: Sequence[str]) -> list[Row]:
    chosen = activation_ranking.tuned(f)
    scores = activation_ranking.score_matrices(chosen)
    iqm = {a: robust.stratified_bootstrap((scores[a],), robust.iqm) for a in names if a in scores and scores[a].size}
    rows: list[Row] = [
        ("tuned accuracy, IQM [95% CI]", {a: f"{p:.3f} [{lo:.3f}, {hi:.3f}]" for a, (p, lo, hi) in iqm.items()},
         f"val acc at each dataset's best lr, over seeds x {', '.join(sorted(chosen.dataset.unique()))}")
    ]  # fmt: skip
    if name in scores and scores[name].size:
        improvement = {}
        for b in names:
            if b != name and b in scores and scores[b].shape == scores[name].shape:
                p, lo, hi = robust.stratified_bootstrap((scores[name], scores[b]), robust.probability_of_improvement)
                improvement[b] = f"{p:.2f} [{lo:.2f}, {hi:.2f}]"
        rows.append((f"P({name} > baseline) [95% CI]", improvement, "probability of improvement over each baseline"))
    return rows


def card_rows(name: str, against: Sequence[str], uri: str, experiments: Sequence[str]) -> list[Row]:
    """Every row of the card; a part without runs in the store gives no rows."""
    names = [name, *against]
    rows = _theory_rows(names)
    parts: list[tuple[str, Callable[[Frames], list[Row]]]] = [
        (experiments[0], lambda f: _vanishing_rows(f, names)),
        (experiments[1], lambda f: _depth50_rows(f, names)),
        (experiments[2], lambda f: _training_rows(f, names)),
        (experiments[3], lambda f: _accuracy_rows(f, name, names)),
    ]
    for experiment, build in parts:
        frames = _frames(uri, experiment)
        if frames is not None and len(frames.usable):
            rows += build(frames)
    return rows


def text(name: str, against: Sequence[str], rows: Sequence[Row]) -> str:
    """The card as a console table: a column per activation, the meaning last."""
    names = [name, *against]
    what = max(len(r[0]) for r in rows)
    widths = [max(len(a), *(len(r[1].get(a, "")) for r in rows)) for a in names]
    head = f"{'':{what}}  " + "  ".join(f"{a:<{w}}" for a, w in zip(names, widths, strict=True))
    lines = [head]
    for label, values, meaning in rows:
        cells = "  ".join(f"{values.get(a, ''):<{w}}" for a, w in zip(names, widths, strict=True))
        lines.append(f"{label:<{what}}  {cells}  {meaning}")
    return "\n".join(lines)


def card_pdf(name: str, against: Sequence[str], uri: str, path: Path, experiments: Sequence[str]) -> str:
    """Write the card's PDF (the table first, then the activations' pictures) and return the table."""
    from matplotlib.backends.backend_pdf import PdfPages

    from annlab.read import activation_page, figures

    rows = card_rows(name, against, uri, experiments)
    lines = [
        f"{label}: " + "; ".join(f"{a} {v}" for a, v in values.items()) + f" ({meaning})"
        for label, values, meaning in rows
    ]
    pages = figures.text_pages(f"annlab report card: {name} against {', '.join(against)}", [("Measured", lines)])
    pages.append(activation_page.figure(activation_page.curves([name, *against])))
    path.parent.mkdir(parents=True, exist_ok=True)
    with PdfPages(path, metadata={"Title": f"annlab report card: {name}"}) as pdf:
        for fig in pages:
            pdf.savefig(fig)
            figures.plt.close(fig)
    return text(name, against, rows)
