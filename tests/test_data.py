"""Datasets: tasks, stratified seeded splits, standardisation on the training split, no downloads."""

from __future__ import annotations

import pytest
import torch

from annlab.data import DATASETS, load_split

SIZES = {"digits": 1797, "iris": 150, "wine": 178, "breast_cancer": 569, "diabetes": 442}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_dataset_splits_and_standardises(name: str) -> None:
    n = None if DATASETS[name].bundled else 300
    s = load_split(name, n, 0.25, seed=0)
    assert s.task == DATASETS[name].task
    total = len(s.x_train) + len(s.x_val)
    assert total == (SIZES[name] if n is None else n)
    assert len(s.x_val) == pytest.approx(0.25 * total, abs=1)
    kept = s.x_train.std(0) > 0  # constant pixels of digits stay constant
    torch.testing.assert_close(s.x_train.mean(0), torch.zeros(s.n_features), atol=1e-5, rtol=0)
    torch.testing.assert_close(s.x_train.std(0, unbiased=False)[kept], torch.ones(int(kept.sum())), atol=1e-4, rtol=0)
    if s.task == "multiclass":
        assert s.y_train.dtype == torch.long and s.n_outputs == s.n_classes >= 2
    else:
        assert s.y_train.shape == (len(s.x_train), 1) and s.n_outputs == 1


def test_split_is_stratified_and_seeded() -> None:
    a = load_split("iris", None, 0.2, seed=3)
    assert torch.bincount(a.y_val).tolist() == [10, 10, 10]
    b = load_split("iris", None, 0.2, seed=3)
    c = load_split("iris", None, 0.2, seed=4)
    assert torch.equal(a.x_train, b.x_train) and not torch.equal(a.x_train, c.x_train)


def test_bundled_datasets_subsample_with_n_samples() -> None:
    s = load_split("digits", 500, 0.2, seed=0)
    assert len(s.x_train) + len(s.x_val) == 500 and s.n_classes == 10


def test_seed_random_is_the_seeds_data_shape() -> None:
    s = load_split("seed_random", 100, 0.2, seed=0)
    assert s.n_features == 3 and s.n_classes == 2
    assert 30 <= int(s.y_train.sum()) <= 50  # both classes well represented
