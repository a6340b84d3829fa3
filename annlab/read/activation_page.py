"""The seed's activation pictures: each activation and its derivative over [-6, 6], with what the
seed states about it beside what the curve measures. Needs no store:

    python reports/activations.py [--activation NAME ...] [--out FILE.pdf]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from annlab.names import ACTIVATION_NAMES

HIDDEN = tuple(n for n in ACTIVATION_NAMES if n != "identity")
# What the seed (shared/seed/, its sigmoid, Tanh and ReLU pictures) says of each activation.
SEED_SAYS = {
    "sigmoid": "output in (0, 1); derivative at most 0.25",
    "tanh": "output in (-1, 1); derivative at most 1, near 0 beyond |x| > 3",
    "relu": "derivative 0 for x < 0 and 1 for x > 0",
    "leaky_relu": "a small slope for x < 0 instead of 0",
    "prelu": "a learned slope for x < 0 (starts at 0.25)",
}


def curves(names: Sequence[str] = HIDDEN, lo: float = -6.0, hi: float = 6.0, points: int = 481) -> pd.DataFrame:
    """Tidy frame: activation, x, f (the activation), df (its derivative), by autograd in float64."""
    from annlab.net.theory import phi_and_derivative

    x = np.linspace(lo, hi, points)
    parts = []
    for name in names:
        f, df = phi_and_derivative(name, None, x)
        parts.append(pd.DataFrame({"activation": name, "x": x, "f": f, "df": df}))
    return pd.concat(parts, ignore_index=True)


def measured(frame: pd.DataFrame) -> dict[str, str]:
    """Per activation, what its curve shows: output range, largest derivative, slopes at both ends."""
    notes = {}
    for name, part in frame.groupby("activation", sort=False):
        beyond3 = part[part.x.abs() >= 3].df.abs().max()
        notes[str(name)] = (
            f"f in [{part.f.min():.3g}, {part.f.max():.3g}] on [-6, 6]; max f' {part.df.max():.3g}; "
            f"f'(-6) {part.df.iloc[0]:.3g}, f'(6) {part.df.iloc[-1]:.3g}; max |f'| beyond |x| >= 3: {beyond3:.3g}"
        )
    return notes


def figure(frame: pd.DataFrame, slopes: pd.DataFrame | None = None) -> Figure:
    """One panel per activation: f and f' (dashed), the seed's statement and the measured one
    below. With `slopes` (annlab.read.analysis.learned_slopes: PReLU's learned negative-side
    slope per hidden layer at the end of the runs), the PReLU panel also draws the smallest and
    largest of them (dotted) and lists them."""
    import textwrap

    import matplotlib.pyplot as plt

    from annlab.read.figures import PAGE, facet_columns

    names = list(dict.fromkeys(frame.activation))
    cols = facet_columns(len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=PAGE, squeeze=False)
    notes = measured(frame)
    for ax, name in zip(axes.flat, names, strict=False):
        part = frame[frame.activation == name]
        ax.plot(part.x, part.f, label="f(x)")
        ax.plot(part.x, part.df, linestyle="--", label="f'(x)")
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.set_title(name, fontsize=10)
        text = ("seed: " + SEED_SAYS[name] + "\n" if name in SEED_SAYS else "") + "measured: " + notes[name]
        if name == "prelu" and slopes is not None and not slopes.empty:
            text += "\n" + _draw_slopes(ax, part, slopes)
        wrapped = "\n".join(textwrap.fill(line, 70) for line in text.split("\n"))
        ax.set_xlabel(wrapped, fontsize=5.5)  # below the panel: never over a curve
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    axes.flat[0].legend(loc="lower right", fontsize=7)
    fig.suptitle("Activations and their derivatives over [-6, 6] (the seed's pictures)", fontweight="bold")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def _draw_slopes(ax: object, part: pd.DataFrame, slopes: pd.DataFrame) -> str:
    """PReLU with the smallest and largest learned slope (dotted); the note listing them all."""
    negative = part[part.x <= 0]
    for value in sorted({slopes["mean"].min(), slopes["mean"].max()}):
        ax.plot(negative.x, value * negative.x, linestyle=":", color="black", linewidth=1.0)  # type: ignore[attr-defined]
    runs = int(slopes.n.max())
    listed = ", ".join(f"{v:.3g}" for v in slopes.sort_values("layer")["mean"])
    mean_of = f"mean of {runs} run{'s' if runs > 1 else ''}"
    return f"runs: learned slope per hidden layer at the end ({mean_of}; dotted: min, max): {listed}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python reports/activations.py", description=__doc__.split("\n")[0])
    parser.add_argument("--activation", action="append", choices=HIDDEN, help="one (repeatable; default: all)")
    parser.add_argument("--out", default="reports/out/activations.pdf", help="the PDF to write")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure(curves(args.activation or HIDDEN)).savefig(out)
    print(f"annlab: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
