"""Datasets by name: synthetic ones made on the fly and scikit-learn's bundled ones, split and scaled."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from annlab.config import DatasetConfig
from annlab.train.datasets import ALIASES, DATASETS, DatasetInfo, resolve_dataset  # noqa: F401 (re-exported)
from annlab.train.user_data import call_function, infer_task, read_file


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
    every regression dataset (R^2 is unchanged). A process makes each (dataset, seed) once: a
    sweep's pre-check and its jobs, and jobs that differ in other values, share the split, whose
    tensors are only ever read.
    """
    return _cached_split(d.model_dump_json(), seed)


@lru_cache(maxsize=64)  # a digits split is ~0.5 MB
def _cached_split(dataset: str, seed: int) -> Split:
    return _make_split(DatasetConfig.model_validate_json(dataset), seed)


def _make_split(d: DatasetConfig, seed: int) -> Split:
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    info = DATASETS[d.name]
    x, y = _arrays(d, seed)
    task = d.task or (info.task if info.task != "infer" else infer_task(y))
    if task == "regression" and y.dtype.kind not in "biuf":
        raise ValueError(f"dataset.task=regression needs a numeric target, not {y.dtype}")
    classify = task != "regression"
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
        if task == "binary" and n_classes != 2:
            raise ValueError(f"dataset={d.name!r} is binary but has {n_classes} classes")
    else:
        mean, std = y_tr.mean(), y_tr.std() or 1.0
        y_tr, y_va = (y_tr - mean) / std, (y_va - mean) / std
        n_classes = 0
    return Split(d.name, task, _features(x_tr), _targets(y_tr, task), _features(x_va), _targets(y_va, task), n_classes)


def _arrays(d: DatasetConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The dataset's features and targets: made, bundled, or the user's (a file, a function), of
    which n_samples (if given) keeps that many rows, drawn as a bundled dataset's are."""
    from sklearn.model_selection import train_test_split

    if d.name == "file":
        assert d.path is not None and d.target is not None
        x, y = read_file(d.path, d.target)
    elif d.name == "custom":
        assert d.factory is not None
        x, y = call_function(d.factory, d.params, seed)
    else:
        return DATASETS[d.name].make(d.n_samples, seed, **d.params)
    if d.n_samples is not None and d.n_samples < len(y):
        x, _, y, _ = train_test_split(x, y, train_size=d.n_samples, random_state=seed)
    return x, y


def _features(x: np.ndarray) -> Tensor:
    return torch.as_tensor(x, dtype=torch.float32)


def _targets(y: np.ndarray, task: str) -> Tensor:
    # Class indices for cross-entropy; a float column for BCE-with-logits and MSE.
    if task == "multiclass":
        return torch.as_tensor(y, dtype=torch.long)
    return torch.as_tensor(y, dtype=torch.float32).reshape(-1, 1)
