"""Datasets by name: synthetic ones made on the fly and scikit-learn's bundled ones, split and scaled."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from annlab.config import DatasetConfig
from annlab.record import RENAMED

Arrays = tuple[np.ndarray, np.ndarray]


def _spirals(n_samples: int, seed: int, noise: float = 0.2, n_classes: int = 2, turns: float = 1.5) -> Arrays:
    # Interleaved arms, the classic "two spirals" problem (Lang and Witbrock 1988).
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % n_classes
    t = rng.uniform(0.05, 1.0, n_samples) * turns * 2 * np.pi
    phase = 2 * np.pi * y / n_classes
    x = np.stack([t * np.cos(t + phase), t * np.sin(t + phase)], axis=1) / (turns * 2 * np.pi)
    return x + rng.normal(0.0, noise / 10, x.shape), y


def _tutorial_randn(n_samples: int, seed: int, n_features: int = 3, n_classes: int = 2) -> Arrays:
    # The seed's data: torch.randn(5, 3). Labels follow the sign pattern of a fixed random
    # projection, so the task is learnable and its classes are balanced.
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


@dataclass(frozen=True)
class Split:
    """A dataset split into train and validation tensors (features standardised unless asked not to)."""

    name: str
    task: str
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    n_classes: int  # 0 for regression

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_outputs(self) -> int:
        """Output units: 1 for binary (sigmoid) and regression, one per class otherwise."""
        return self.n_classes if self.task == "multiclass" else 1

    @property
    def input_second_moment(self) -> float:
        """E[x_i^2] over the training features: where the mean-field length map starts (1 when standardised)."""
        return float(self.x_train.double().square().mean())


def load_split(d: DatasetConfig, seed: int) -> Split:
    """Make dataset `d`, split it (stratified for classification) and standardise it.

    The scaler is fitted on the training split only (`d.standardize=false` keeps the raw
    features); regression targets are always standardised, so that one learning rate suits
    every regression dataset (R^2 is unchanged).
    """
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    info = DATASETS[d.name]
    x, y = info.make(d.n_samples, seed, **d.params)
    classify = info.task != "regression"
    x_tr, x_va, y_tr, y_va = train_test_split(
        x, y, test_size=d.val_fraction, random_state=seed, stratify=y if classify else None
    )
    if d.standardize:
        scaler = StandardScaler().fit(x_tr)
        x_tr, x_va = scaler.transform(x_tr), scaler.transform(x_va)
    if classify:
        classes, y_tr = np.unique(y_tr, return_inverse=True)
        y_va = np.searchsorted(classes, y_va)
        n_classes = len(classes)
        if info.task == "binary" and n_classes != 2:
            raise ValueError(f"dataset={d.name!r} is binary but has {n_classes} classes")
    else:
        mean, std = y_tr.mean(), y_tr.std() or 1.0
        y_tr, y_va = (y_tr - mean) / std, (y_va - mean) / std
        n_classes = 0
    task = info.task
    return Split(d.name, task, _features(x_tr), _targets(y_tr, task), _features(x_va), _targets(y_va, task), n_classes)


def _features(x: np.ndarray) -> Tensor:
    return torch.as_tensor(x, dtype=torch.float32)


def _targets(y: np.ndarray, task: str) -> Tensor:
    # Class indices for cross-entropy; a float column for BCE-with-logits and MSE.
    if task == "multiclass":
        return torch.as_tensor(y, dtype=torch.long)
    return torch.as_tensor(y, dtype=torch.float32).reshape(-1, 1)
