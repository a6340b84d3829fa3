"""Datasets: tasks, stratified seeded splits, standardisation on the training split, no downloads."""

from __future__ import annotations

import pytest
import torch

from annlab.config import DatasetConfig
from annlab.train.data import ALIASES, DATASETS, load_split


def dataset(name: str, n: int | None, val_fraction: float, standardize: bool = True) -> DatasetConfig:
    return DatasetConfig(name=name, n_samples=n, val_fraction=val_fraction, standardize=standardize)


SIZES = {"digits": 1797, "iris": 150, "wine": 178, "breast_cancer": 569, "diabetes": 442}


@pytest.mark.parametrize(
    "name", sorted(n for n in DATASETS if DATASETS[n].task != "infer")
)  # the user's: test_user_data
def test_every_dataset_splits_and_standardises(name: str) -> None:
    n = None if DATASETS[name].bundled else 300
    s = load_split(dataset(name, n, 0.25), seed=0)
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
    a = load_split(dataset("iris", None, 0.2), seed=3)
    assert torch.bincount(a.y_val).tolist() == [10, 10, 10]
    b = load_split(dataset("iris", None, 0.2), seed=3)
    c = load_split(dataset("iris", None, 0.2), seed=4)
    assert torch.equal(a.x_train, b.x_train) and not torch.equal(a.x_train, c.x_train)


def test_bundled_datasets_subsample_with_n_samples() -> None:
    s = load_split(dataset("digits", 500, 0.2), seed=0)
    assert len(s.x_train) + len(s.x_val) == 500 and s.n_classes == 10


def test_tutorial_randn_is_the_tutorials_data_shape() -> None:
    s = load_split(dataset("tutorial_randn", 100, 0.2), seed=0)
    assert s.n_features == 3 and s.n_classes == 2
    assert 30 <= int(s.y_train.sum()) <= 50  # both classes well represented


def test_first_release_names_are_aliases_of_the_same_data() -> None:
    assert ALIASES == {
        "classification": "make_classification",
        "regression": "make_regression",
        "seed_random": "tutorial_randn",
    }
    for old, new in ALIASES.items():
        a, b = load_split(dataset(old, 100, 0.2), seed=0), load_split(dataset(new, 100, 0.2), seed=0)
        assert a.name == b.name == new and torch.equal(a.x_train, b.x_train)


def test_standardize_false_keeps_the_raw_feature_scale() -> None:
    raw = load_split(dataset("wine", None, 0.2, standardize=False), seed=0)
    scaled = load_split(dataset("wine", None, 0.2), seed=0)
    # wine's proline is in the hundreds: its raw second moment is far from standardised data's 1.
    assert raw.input_second_moment > 1000 and scaled.input_second_moment == pytest.approx(1.0, abs=1e-4)
    assert raw.x_train[:, 12].mean() > 500
