"""Study activation_ranking: the check of its finding (the grid is experiments/activation_ranking.yaml)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from annlab.studies.common import MissingData, Study, Verdict, need, scored_runs

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from annlab.read.store import Frames

SEED_ORDER = ("relu", "leaky_relu", "prelu", "tanh", "sigmoid")
FINDING = (
    "the seed's hidden-layer preference relu > leaky_relu > prelu > tanh > sigmoid: each activation, at "
    "its best learning rate per dataset (chosen on validation loss), beats the next with probability "
    "of improvement above 0.5, its 95% bootstrap interval above 0.5 too"
)


def tuned(frames: Frames) -> pd.DataFrame:
    """The runs at each activation x dataset's best learning rate (lowest mean val loss over
    seeds; a lost run's loss counts as infinite), with their val acc (a lost run: 0)."""
    import numpy as np

    runs = scored_runs(frames, 0.0)
    runs = runs.assign(loss=runs.val_loss.where(~runs.lost, np.inf))
    mean_loss = runs.groupby(["activation", "dataset", "lr"]).loss.mean().reset_index()
    best = mean_loss.loc[mean_loss.groupby(["activation", "dataset"]).loss.idxmin()]
    return runs.merge(best[["activation", "dataset", "lr"]], on=["activation", "dataset", "lr"])


def score_matrices(chosen: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per activation: val acc as a [seeds, datasets] matrix (datasets in one order for all)."""
    datasets = sorted(chosen.dataset.unique())
    out = {}
    for act, part in chosen.groupby("activation"):
        table = part.pivot_table(index="seed", columns="dataset", values="score").reindex(columns=datasets)
        out[str(act)] = table.dropna().to_numpy()
    return out


def check(frames: Frames) -> Verdict:
    from annlab.read import robust

    need(frames, activation=list(SEED_ORDER))
    chosen = tuned(frames)
    scores = score_matrices(chosen)
    if any(s.size == 0 for s in scores.values()):
        raise MissingData("an activation has no seed run on every dataset")
    v = Verdict()
    lrs = chosen.drop_duplicates(["activation", "dataset"]).pivot(index="activation", columns="dataset", values="lr")
    v.add(
        "learning rate chosen per dataset (" + ", ".join(lrs.columns) + ")",
        "; ".join(f"{a} " + "/".join(f"{x:g}" for x in lrs.loc[a]) for a in SEED_ORDER),
        "(reported)",
        True,
    )
    iqms = {a: robust.stratified_bootstrap((scores[a],), robust.iqm) for a in SEED_ORDER}
    ranked = sorted(SEED_ORDER, key=lambda a: -iqms[a][0])
    v.add(
        "IQM of val acc [95% CI] over seeds x datasets",
        "; ".join(f"{a} {p:.3f} [{lo:.3f}, {hi:.3f}]" for a, (p, lo, hi) in iqms.items()),
        "(reported: by IQM " + " > ".join(ranked) + ")",
        True,
    )
    for better, worse in itertools.pairwise(SEED_ORDER):
        p, lo, hi = robust.stratified_bootstrap((scores[better], scores[worse]), robust.probability_of_improvement)
        v.add(f"P({better} > {worse})", f"{p:.2f} [{lo:.2f}, {hi:.2f}]", "above 0.5, interval too", lo > 0.5)
    return v


STUDY = Study("activation_ranking", FINDING, check)
