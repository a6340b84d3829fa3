"""A job's identity (what resume matches on) is the one the first release computed: pinned values."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from annlab.config import RunConfig
from annlab.train.identity import config_hash

# config_hash of these configs as computed by the first release (commit ea70fd8), before the
# restructure renamed options, split the model schema and added dataset.standardize: a sweep
# started then is resumed now without retraining what finished.
PINNED = [
    ([], "8b4b2456749bce9b503b"),
    (["activation=tanh", "init=xavier", "model.depth=5", "seed=2"], "7e8f865ee3711f4b34f1"),
    (["model=seed_example"], "db24e28452196f72a84d"),
    (["init=default", "dataset=digits"], "5282139b9cd125ea962a"),
    (
        ["+experiments=vanishing_gradients", "activation=sigmoid", "init=default", "model.depth=4", "seed=1"],
        "d6773306617ce7f5b489",
    ),
    (["activation=prelu", "init=constant", "dataset=regression"], "15785c08cc5df832afcd"),
]


@pytest.mark.parametrize(("overrides", "digest"), PINNED, ids=[" ".join(o) or "defaults" for o, _ in PINNED])
def test_identity_is_the_first_releases(overrides: list[str], digest: str, config: Callable[..., RunConfig]) -> None:
    assert config_hash(config(*overrides)) == digest


def test_renamed_options_and_their_aliases_are_one_job(config: Callable[..., RunConfig]) -> None:
    assert config_hash(config("init=pytorch")) == config_hash(config("init=default"))
    assert config_hash(config("model=tutorial_example")) == config_hash(config("model=seed_example"))
    assert config_hash(config("dataset=make_regression")) == config_hash(config("dataset=regression"))


def test_new_keys_change_the_identity_only_away_from_the_old_behaviour(config: Callable[..., RunConfig]) -> None:
    assert config_hash(config("dataset.standardize=true")) == config_hash(config())
    assert config_hash(config("dataset.standardize=false")) != config_hash(config())


def test_identity_ignores_where_and_how_a_job_runs(config: Callable[..., RunConfig]) -> None:
    base = config_hash(config())
    assert base == config_hash(config("resume=false", "threads=2", "tracking.experiment=x"))
    assert base != config_hash(config("optimizer.lr=0.1"))
