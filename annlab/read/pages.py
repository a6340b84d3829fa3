"""The report's figure pages: each is an analysis of the frames (pure) drawn by a figure function."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from annlab.parts import USER_ACTIVATIONS
from annlab.read import analysis, correlation_page, distribution_pages, expected, figures, gain_map
from annlab.read import layer_distributions as dists
from annlab.read.store import Frames, load_networks

MAX_DEPTH_PANELS = 4
Built = tuple[list[Figure], str]  # the pages drawn, or none and the reason


@dataclass
class Options:
    threshold: float = 1e-2


def gradient_flow_page(agg: pd.DataFrame, when: str, theory: pd.DataFrame) -> Figure:
    """grad_z_norm per layer (input side left, log y), a line per activation, a panel per init x
    depth (at most MAX_DEPTH_PANELS depths, spread over the grid); the mean-field prediction
    dashed in the same colour where given."""
    depths = figures.spread([int(d) for d in agg.depth.unique()], MAX_DEPTH_PANELS)
    shown = agg[agg.depth.isin(depths)]
    dashed = "; dashed: mean-field prediction" if not theory.empty else ""
    note = (
        "" if len(depths) == agg.depth.nunique() else f"; depths {', '.join(map(str, depths))} of {agg.depth.nunique()}"
    )
    colours = figures.palette(agg.activation)
    grid = figures.lines(
        figures.sorted_panels(shown, "init", "depth"),
        x="layer",
        hue="activation",
        panel="panel",
        title=f"Gradient flow at {when}: ||dL/dz|| per layer (geometric mean over seeds, 95% interval{dashed}{note})",
        labels=("layer (1 = input side; the last is the output layer)", "||dL/dz|| over the probe batch (log scale)"),
        domain=figures.POSITIVE,
        log=True,
        colours=colours,
    )
    figures.predicted_lines(grid, theory, ["init", "depth"], "activation", "layer", colours)
    return grid.figure


def _gradient_flow(f: Frames, o: Options) -> Built:
    if f.layers.empty:
        return [], "no per-layer stats in the finished runs"
    at_init = analysis.gradient_flow(f.layers, f.usable, "first")
    networks = load_networks(f.usable.drop_duplicates(analysis.KEYS), f.uri) if f.uri else pd.DataFrame()
    theory = expected.profiles(networks, at_init, f.usable, analysis.KEYS) if not networks.empty else pd.DataFrame()
    at_end = analysis.gradient_flow(f.layers, f.usable, "last")
    return [
        gradient_flow_page(at_init, "step 0 (initialisation)", theory),
        gradient_flow_page(at_end, "the end of training", pd.DataFrame()),
    ], ""


def vanishing_page(agg: pd.DataFrame, crossings: pd.DataFrame, threshold: float) -> Figure:
    """First-layer / output-layer grad_z_norm ratio at step 0 against depth, a panel per init,
    with the threshold and each curve's (interpolated) crossing depth written on the panel."""
    scaled = agg.assign(**{c: 10 ** agg[c] for c in ("mean", "lo", "hi")})
    colours = figures.palette(agg.activation)
    grid = figures.lines(
        figures.sorted_panels(scaled, "init"),
        x="depth",
        hue="activation",
        panel="panel",
        title=f"Vanishing depth: first / output layer ||dL/dz|| at step 0 (threshold {threshold:g})",
        labels=("depth (hidden layers)", "ratio (log scale)"),
        domain=figures.POSITIVE,
        log=True,
        colours=colours,
    )

    def draw(panel: str, ax: object) -> None:
        init = panel.removeprefix("init=")
        notes = []
        for row in crossings[crossings.init == init].itertuples():
            depth = row.crossing_depth
            notes.append(f"{row.activation}: " + ("never" if math.isnan(depth) else f"depth {depth:.1f}"))
            if not math.isnan(depth):
                ax.plot([depth], [threshold], marker="x", color=colours[row.activation], markersize=9, mew=2)  # type: ignore[attr-defined]
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1)  # type: ignore[attr-defined]
        ax.text(
            0.02,
            0.02,
            "crosses the threshold at (interpolated)\n" + "\n".join(notes),
            transform=ax.transAxes,  # type: ignore[attr-defined]
            fontsize=7,
            va="bottom",
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
        )

    figures.annotate(grid, draw)
    return grid.figure


def _correlation(f: Frames, o: Options) -> Built:
    agg = analysis.correlation_map(f.layers, f.usable) if not f.layers.empty else pd.DataFrame()
    if agg.empty:
        return [], "no example_cosine recorded (runs from before it)"
    networks = load_networks(f.usable, f.uri) if f.uri else pd.DataFrame()
    return [correlation_page.figure(agg, expected.correlation_map(networks, f.usable, analysis.KEYS))], ""


def _vanishing(f: Frames, o: Options) -> Built:
    if f.layers.empty:
        return [], "no per-layer stats in the finished runs"
    agg = analysis.vanishing_depth(analysis.vanishing_ratios(f.layers, f.usable))
    if agg.depth.nunique() < 2:
        return [], f"needs runs at 2 or more depths (has {sorted(agg.depth.unique().tolist())})"
    return [vanishing_page(agg, analysis.crossing_depths(agg, o.threshold), o.threshold)], ""


def _outcomes(f: Frames, o: Options) -> Built:
    scores = analysis.outcomes(f.usable)
    if scores.empty:
        return [], "no final validation scores"
    name = "/".join(sorted(scores.score_name.unique()))
    # Accuracy lies in [0, 1]; R^2 is at most 1 (and unbounded below): the colour scale says so.
    low = min(0.0, float(scores["mean"].min())) if name != "acc" else 0.0
    page = figures.heatmaps(
        figures.sorted_panels(scores, "dataset", "depth"),
        panel="panel",
        index="activation",
        columns="init",
        title=f"Outcomes: final validation {name} (mean over seeds)",
        vmin=low,
        vmax=1.0,
    )
    return [page], ""


def _curves(f: Frames, o: Options) -> Built:
    if f.epochs.empty or not (f.epochs.metric == "val/loss").any():
        return [], "no per-epoch validation loss"
    agg = analysis.curves(f.epochs, f.usable)
    pooled = agg.groupby(["init", "depth", "activation", "epoch"], as_index=False).agg(
        mean=("mean", "mean"), lo=("lo", "mean"), hi=("hi", "mean"), n=("n", "min")
    )
    log = bool((pooled["mean"] > 0).all() and pooled["mean"].max() / max(pooled["mean"].min(), 1e-12) > 100)
    grid = figures.lines(
        figures.sorted_panels(pooled, "init", "depth"),
        x="epoch",
        hue="activation",
        panel="panel",
        title="Training curves: val/loss over epochs (mean over seeds, 95% interval; epoch 0 = initialisation)",
        labels=("epoch", "val/loss" + (" (log scale)" if log else "")),
        domain=figures.POSITIVE,
        log=log,
    )
    return [grid.figure], ""


def _per_layer_over_training(agg: pd.DataFrame, title: str, ylabel: str, domain: tuple[float, float]) -> Figure:
    pooled = agg.groupby(["panel", "layer", "step"], as_index=False).agg(
        mean=("mean", "mean"), lo=("lo", "mean"), hi=("hi", "mean"), n=("n", "min")
    )
    pooled["layer"] = pooled.layer.astype(int)
    grid = figures.lines(
        pooled,
        x="step",
        hue="layer",
        panel="panel",
        title=title,
        labels=("optimiser step", ylabel),
        domain=domain,
        colours=figures.palette(pooled.layer, "viridis"),
        legend="hidden layer",
    )
    for ax in grid.axes.flat:
        ax.set_ylim(domain[0] - 0.02, domain[1] + 0.02)
    return grid.figure


def _health(f: Frames, o: Options) -> Built:
    agg = pd.DataFrame()
    if not f.layers.empty:
        per_layer = f.usable[f.usable.model != "mlp"]
        networks = load_networks(per_layer, f.uri) if len(per_layer) and f.uri else pd.DataFrame()
        agg = analysis.activation_health(f.layers, f.usable, analysis.layer_activations(f.usable, networks))
    if agg.empty:
        return [], "no hidden layer with a bounded (sigmoid, tanh) or ReLU-family activation"
    framed = agg.sort_values(["panel", "layer", "step"])
    title = "Activation health: saturated units (sigmoid, tanh) and dead units (ReLU family)"
    return [_per_layer_over_training(framed, title, "share of units", figures.SHARE)], ""


def _symmetry(f: Frames, o: Options) -> Built:
    agg = analysis.symmetry(f.layers, f.usable) if not f.layers.empty else pd.DataFrame()
    if agg.empty:
        return [], "no hidden layers to measure"
    title = "Symmetry: mean pairwise cosine of a layer's weight rows (1.0 = never broken)"
    return [_per_layer_over_training(figures.sorted_panels(agg, "init"), title, "unit_cosine", figures.COSINE)], ""


def _gain_map(f: Frames, o: Options) -> Built:
    if f.layers.empty or not f.usable.init.isin(["critical", "critical_orthogonal"]).any():
        return [], "no runs with a critical init"
    networks = load_networks(f.usable, f.uri) if f.uri else pd.DataFrame()
    if "gain" not in networks:
        return [], "the runs recorded no gains (recorded since the critical inits)"
    measured = analysis.measured_chi(f.layers, f.usable, networks)
    theory = expected.gain_map(sorted(f.usable.activation.unique()), gain_map.GAINS)
    return [gain_map.gain_map_page(theory, measured)], ""


NO_DISTRIBUTIONS = "no distributions recorded (probe.distributions=0, or runs from before the record existed)"


def _activations(f: Frames, o: Options) -> Built:
    from annlab.read import activation_page

    ran = {name for names in f.runs.activation.dropna() for name in str(names).split(",")}
    shown = [name for name in (*activation_page.HIDDEN, *sorted(USER_ACTIVATIONS)) if name in ran]
    if not shown:
        return [], "no run with a known hidden activation"
    slopes = analysis.learned_slopes(f.layers, f.usable) if not f.layers.empty and "prelu" in shown else None
    return [activation_page.figure(activation_page.curves(shown), slopes)], ""


def _distributions(f: Frames, quantity: str) -> pd.DataFrame:
    """The tidy init and end histograms of `quantity` (magnitudes for gradients), at the depths shown."""
    dist = f.distributions()  # read once for both distribution pages
    if dist.empty:
        return pd.DataFrame()
    frame = dists.histograms(dist, f.usable, quantity)
    if quantity.startswith("grad"):
        frame = dists.folded(frame)
    return dists.tidy(dists.shown_depths(frame))


def _activation_distributions(f: Frames, o: Options) -> Built:
    frame = _distributions(f, "a")
    if frame.empty:
        return [], NO_DISTRIBUTIONS
    title = "Activation values per hidden layer at initialisation and at the end (cf. Glorot & Bengio 2010, Fig. 6)"
    return distribution_pages.pages(frame, title, "activation value a (symmetric log scale for unbounded ones)"), ""


def _gradient_distributions(f: Frames, o: Options) -> Built:
    frame = _distributions(f, "grad_z")
    if frame.empty:
        return [], NO_DISTRIBUTIONS
    title = (
        "Back-propagated gradients |dL/dz| per hidden layer at initialisation and at the end "
        "(cf. Glorot & Bengio 2010, Fig. 7)"
    )
    return distribution_pages.pages(frame, title, "|dL/dz| on the probe batch (log scale)"), ""


def _spectra(f: Frames, o: Options) -> Built:
    from annlab.read import mean_field_pages, spectra
    from annlab.read.store import load_spectra

    recorded = load_spectra(f.usable, f.uri) if f.uri and len(f.usable) else pd.DataFrame()
    if recorded.empty:
        return [], "no Jacobian spectra recorded (probe.spectrum=0, or runs from before the record existed)"
    return [mean_field_pages.spectrum_figure(spectra.log_singular_values(recorded, f.usable))], ""


def _depth_scales(f: Frames, o: Options) -> Built:
    from annlab.read import depth_scales, mean_field_pages

    ended = f.runs[f.runs.status.isin(["FINISHED", "FAILED"])]
    networks = load_networks(ended, f.uri) if f.uri and len(ended) else pd.DataFrame()
    cells = depth_scales.cells(f.runs, f.epochs, networks) if not networks.empty else pd.DataFrame()
    if (
        cells.empty
        or cells.groupby(["activation", "sigma_b2"]).sigma_w2.nunique().max() < 3
        or cells.depth.nunique() < 2
    ):
        return [], "no grid of at least 3 values of sigma_w^2 x 2 depths (one sigma_w^2 per net)"
    return [mean_field_pages.depth_scales_figure(cells, depth_scales.curves(cells), depth_scales.critical(cells))], ""


# The report's figures in page order: key -> (title, builder).
FIGURES: dict[str, tuple[str, Callable[[Frames, Options], Built]]] = {
    "activations": ("The experiment's activations and their derivatives (the seed's pictures)", _activations),
    "gradient_flow": ("Gradient flow per layer (step 0 and end)", _gradient_flow),
    "correlation_map": ("Correlation map per layer (step 0)", _correlation),
    "vanishing_depth": ("Vanishing depth", _vanishing),
    "outcomes": ("Outcome heatmaps", _outcomes),
    "training_curves": ("Training curves", _curves),
    "activation_health": ("Activation health", _health),
    "symmetry": ("Symmetry", _symmetry),
    "gain_map": ("Gain map", _gain_map),
    "jacobian_spectra": ("Jacobian spectra (step 0)", _spectra),
    "depth_scales": ("Depth scales: trainability over sigma_w^2 and depth", _depth_scales),
    "activation_distributions": ("Activation distributions per layer", _activation_distributions),
    "gradient_distributions": ("Gradient distributions per layer", _gradient_distributions),
}
