"""The dataset registry: how each dataset's arrays are made and what task it poses (importing it
loads no numpy, torch or scikit-learn: the config checks names and tasks against it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from annlab.record import RENAMED

if TYPE_CHECKING:
    import numpy as np

Arrays = tuple["np.ndarray", "np.ndarray"]


def _spirals(n_samples: int, seed: int, noise: float = 0.2, n_classes: int = 2, turns: float = 1.5) -> Arrays:
    # Interleaved arms, the classic "two spirals" problem (Lang and Witbrock 1988).
    import numpy as np

    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % n_classes
    t = rng.uniform(0.05, 1.0, n_samples) * turns * 2 * np.pi
    phase = 2 * np.pi * y / n_classes
    x = np.stack([t * np.cos(t + phase), t * np.sin(t + phase)], axis=1) / (turns * 2 * np.pi)
    return x + rng.normal(0.0, noise / 10, x.shape), y


def _tutorial_randn(n_samples: int, seed: int, n_features: int = 3, n_classes: int = 2) -> Arrays:
    # The seed's data: torch.randn(5, 3). Labels follow the sign pattern of a fixed random
    # projection, so the task is learnable and its classes are balanced.
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_samples, n_features))
    scores = x @ rng.standard_normal((n_features, n_classes))
    return x, scores.argmax(axis=1)


def _made(maker: str) -> Callable[..., Arrays]:
    """sklearn.datasets' `maker`, imported when a dataset is made (sklearn costs ~1.5 s to import)."""

    def make(n_samples: int, seed: int, **kw: Any) -> Arrays:
        from sklearn import datasets

        return getattr(datasets, maker)(n_samples, random_state=seed, **kw)

    return make


def _bundled(loader: str) -> Callable[..., Arrays]:
    def load(n_samples: int | None, seed: int) -> Arrays:
        from sklearn import datasets
        from sklearn.model_selection import train_test_split

        x, y = getattr(datasets, loader)(return_X_y=True)
        if n_samples is not None and n_samples < len(y):
            x, _, y, _ = train_test_split(x, y, train_size=n_samples, random_state=seed)
        return x, y

    return load


def _made_elsewhere(n_samples: int | None, seed: int) -> Arrays:
    raise RuntimeError("the user's data is read by annlab.train.user_data")


@dataclass(frozen=True)
class DatasetInfo:
    """A registry entry: how to make the arrays and what task they pose."""

    make: Callable[..., Arrays]
    task: str  # binary | multiclass | regression
    bundled: bool = False  # ships with scikit-learn: n_samples subsamples it


DATASETS: dict[str, DatasetInfo] = {
    "moons": DatasetInfo(_made("make_moons"), "binary"),
    "circles": DatasetInfo(_made("make_circles"), "binary"),
    "blobs": DatasetInfo(_made("make_blobs"), "multiclass"),
    "spirals": DatasetInfo(_spirals, "binary"),
    "make_classification": DatasetInfo(_made("make_classification"), "multiclass"),
    "make_regression": DatasetInfo(_made("make_regression"), "regression"),
    "friedman1": DatasetInfo(_made("make_friedman1"), "regression"),
    "tutorial_randn": DatasetInfo(_tutorial_randn, "multiclass"),
    "iris": DatasetInfo(_bundled("load_iris"), "multiclass", bundled=True),
    "wine": DatasetInfo(_bundled("load_wine"), "multiclass", bundled=True),
    "breast_cancer": DatasetInfo(_bundled("load_breast_cancer"), "binary", bundled=True),
    "digits": DatasetInfo(_bundled("load_digits"), "multiclass", bundled=True),
    "diabetes": DatasetInfo(_bundled("load_diabetes"), "regression", bundled=True),
    # The user's own (annlab.train.user_data): their task is inferred from the target.
    "file": DatasetInfo(_made_elsewhere, "infer", bundled=True),
    "custom": DatasetInfo(_made_elsewhere, "infer", bundled=True),
}

# Names of the first release: "classification" and "regression" read like task names, and
# "seed_random" mixed up the tutorial (the seed) with the random seed.
ALIASES = RENAMED["dataset"]


def resolve_dataset(name: str) -> str:
    """The registry name behind `name` (aliases resolved); KeyError if unknown."""
    resolved = ALIASES.get(name, name)
    if resolved not in DATASETS:
        raise KeyError(name)
    return resolved
