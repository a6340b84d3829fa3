"""Study depth_scales: the check of its finding (the grid is experiments/depth_scales.yaml)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from annlab.studies.common import MissingData, Study, Verdict

if TYPE_CHECKING:
    import pandas as pd

    from annlab.read.store import Frames

FINDING = (
    "nets train to a depth set by the correlation map's depth scale xi_c (Schoenholz et al. 2017): tanh with "
    "sigma_b^2 = 0.05 trains where depth <= 3 xi_c, not where depth >= 9 xi_c, and trains deepest at the "
    "critical sigma_w^2"
)
SHALLOW, DEEP = 3.0, 9.0  # depth in units of xi_c
TRAIN_SHARE, STALL_SHARE = 0.8, 0.2  # at least this share of shallow cells train; at most this of deep ones


def scale_cells(frames: Frames) -> pd.DataFrame:
    from annlab.read import depth_scales
    from annlab.read.store import load_networks

    networks = load_networks(frames.runs[frames.runs.status.isin(["FINISHED", "FAILED"])], frames.uri)
    table = depth_scales.cells(frames.runs, frames.epochs, networks) if not networks.empty else networks
    if table.empty or table.sigma_w2.nunique() < 3:
        raise MissingData("no runs over sigma_w^2 x depth with one sigma_w^2 per net")
    return table


def _share_row(v: Verdict, table: pd.DataFrame, side: str) -> None:
    chosen = (
        table[table.depth <= SHALLOW * table.xi_c] if side == "shallow" else table[table.depth >= DEEP * table.xi_c]
    )
    share = float(chosen.trained.mean()) if len(chosen) else math.nan
    if side == "shallow":
        what, bound, ok = (
            f"cells with depth <= {SHALLOW:g} xi_c",
            f"at least {TRAIN_SHARE:.0%} train",
            share >= TRAIN_SHARE,
        )
    else:
        what, bound, ok = f"cells with depth >= {DEEP:g} xi_c", f"at most {STALL_SHARE:.0%} train", share <= STALL_SHARE
    v.add(what, f"{share:.0%} of {len(chosen)} train", bound, ok and len(chosen) > 0)


def check(frames: Frames) -> Verdict:
    from annlab.read import depth_scales

    table = scale_cells(frames)
    v = Verdict()
    for sigma_w2, part in table.groupby("sigma_w2"):
        shown = ", ".join(f"d{r.depth} {r.train_acc:.2f}" for r in part.sort_values("depth").itertuples())
        xi = float(part.xi_c.iloc[0])
        v.add(
            f"sigma_w^2 {sigma_w2:.3g} (xi_c {xi:.3g}): final train acc",
            shown,
            f"(reported; trains: >= {depth_scales.TRAINED:g})",
            True,
        )
    _share_row(v, table, "shallow")
    _share_row(v, table, "deep")
    for (act, _, sigma_b2), part in table.groupby(["activation", "activation_params", "sigma_b2"]):
        crit = depth_scales.critical(part).critical.iloc[0]
        deepest = depth_scales.deepest_trainable(part)
        grid = list(deepest.index)
        nearest = min(range(len(grid)), key=lambda i: abs(grid[i] - crit)) if crit == crit else -1
        near = grid[max(nearest - 1, 0) : nearest + 2] if nearest >= 0 else []
        best = deepest.max()
        v.add(
            f"{act} sigma_b^2 {sigma_b2:g}: deepest trainable depth per sigma_w^2",
            ", ".join(f"{s:.3g}: {d}" for s, d in deepest.items()),
            f"peaks ({best}) at the critical {crit:.3g} or its neighbour on the grid",
            best > 0 and any(deepest[s] == best for s in near),
        )
    return v


STUDY = Study("depth_scales", FINDING, check)
