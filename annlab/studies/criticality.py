"""Study criticality: the check of its finding (the grid is experiments/criticality.yaml)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from annlab.lazy import lazy
from annlab.studies.common import Study, Verdict, measured_and_predicted, need

if TYPE_CHECKING:
    import pandas as pd

    from annlab.read.store import Frames

# Loaded at the first check, not at import: `python -m annlab.study list` stays light.
analysis = lazy("annlab.read.analysis")

FINDING = (
    "calibrated keeps every activation's first/output gradient ratio within 0.5 decades at depth 50 (xavier loses "
    "up to ~30 for sigmoid); critical does where the mean-field theory holds, and matches its prediction within "
    "0.3 decades there"
)
KEPT_DECADES = 0.5  # |log10 first/output grad_z_norm| at the deepest depth, at step 0
THEORY_GAP = 0.3  # measured against predicted log10 ratio, where the theory's assumptions hold
# Where the theory's assumptions break, so that `critical` (from the theory) is only reported:
# where phi' changes sign (GELU and SiLU among the built-ins, tested) the fixed point leaps from 0
# to infinity at the critical gain, so E[phi'^2] is not a function of the variance alone.


@cache
def theory_breaks(activation: str) -> str | None:
    """Why the mean-field theory's assumptions break for `activation` (phi' changes sign on
    [-10, 10]), or None; the same rule for a user's activation."""
    import numpy as np

    from annlab.net.theory import phi_and_derivative

    try:
        _, slope = phi_and_derivative(activation, None, np.linspace(-10.0, 10.0, 2001))
    except ValueError:  # not buildable here (a user's part that does not import): nothing to say
        return None
    changes = bool((slope > 1e-12).any() and (slope < -1e-12).any())
    return "phi' changes sign" if changes else None


def _deepest(agg: pd.DataFrame) -> pd.DataFrame:
    return agg[agg.depth == agg.depth.max()].set_index(["activation", "init"])["mean"]


def _kept_rows(v: Verdict, agg: pd.DataFrame) -> None:
    deep = _deepest(agg)
    depth = int(agg.depth.max())
    for act in sorted({a for a, _ in deep.index}):
        shown = ", ".join(
            f"{i} {deep[(act, i)]:+.2f}"
            for i in ("xavier", "kaiming", "critical", "calibrated")
            if (act, i) in deep.index
        )
        calibrated = deep.get((act, "calibrated"), float("nan"))
        v.add(
            f"{act} at depth {depth}: log10 first/output",
            shown,
            f"calibrated within +-{KEPT_DECADES:g}",
            abs(calibrated) <= KEPT_DECADES,
        )
        critical = deep.get((act, "critical"), float("nan"))
        if theory_breaks(act):
            v.add(
                f"{act} + critical",
                f"{critical:+.2f}",
                f"(reported: theory's assumptions break: {theory_breaks(act)})",
                True,
            )
        else:
            v.add(f"{act} + critical", f"{critical:+.2f}", f"within +-{KEPT_DECADES:g}", abs(critical) <= KEPT_DECADES)


def _theory_rows(v: Verdict, frames: Frames, agg: pd.DataFrame) -> None:
    """critical: measured against the mean-field prediction at every depth, from the recorded networks."""
    merged = measured_and_predicted(frames, agg, frames.usable[frames.usable.init == "critical"])
    for act, part in merged.groupby("activation"):
        gap = (part["mean"] - part.predicted).abs().max()
        depths = zip(part.depth, part["mean"], part.predicted, strict=True)
        shown = f"max gap {gap:.2f} (" + ", ".join(f"d{d}: {m:+.2f} vs {p:+.2f}" for d, m, p in depths) + ")"
        if theory_breaks(act):
            v.add(f"theory {act} + critical", shown, "(reported: assumptions break)", True)
        else:
            v.add(f"theory {act} + critical", shown, f"within {THEORY_GAP:g} decades at every depth", gap <= THEORY_GAP)


def check(frames: Frames) -> Verdict:
    need(frames, init=["critical", "calibrated", "xavier"], activation=["sigmoid", "relu", "tanh"])
    v = Verdict()
    agg = analysis.vanishing_depth(analysis.vanishing_ratios(frames.layers, frames.usable))
    _kept_rows(v, agg)
    _theory_rows(v, frames, agg)
    return v


STUDY = Study("criticality", FINDING, check)
