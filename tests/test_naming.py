"""Run names: the DESIGN's pattern, and a suffix for a bias or learning rate away from its option's default."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hydra import compose

from annlab.config import RunConfig, parse_config
from annlab.naming import run_name
from annlab.run import expand
from annlab.train.identity import config_hash

LAYER = "{width: 4, activation: {name: tanh}, init: {name: xavier, bias: %s}}"
NAMES = [
    ([], "relu-kaiming-d3-moons-s0"),
    (["init=pytorch", "init.bias=0.0"], "relu-pytorch-d3-moons-s0-b0"),
    (["init=pytorch"], "relu-pytorch-d3-moons-s0"),  # PyTorch's own bias is pytorch's default
    (["init=xavier", "init.bias=default"], "relu-xavier-d3-moons-s0-bdefault"),
    (["init.bias=0.1", "optimizer.lr=0.03"], "relu-kaiming-d3-moons-s0-b0.1-lr0.03"),
    (["optimizer=adam", "optimizer.lr=0.001"], "relu-kaiming-d3-moons-s0"),  # adam's own default
    (["optimizer=adam", "optimizer.lr=0.05"], "relu-kaiming-d3-moons-s0-lr0.05"),
    (["init=calibrated"], "relu-calibrated-d3-moons-s0"),  # its 0.5 bias is its default
    (["init=calibrated", "init.bias=0.0"], "relu-calibrated-d3-moons-s0-b0"),
    (["init=default", "init.bias=0.2"], "relu-pytorch-d3-moons-s0-b0.2"),  # an alias's default is its target's
    (["init=xavier", "init.bias_std=0.2"], "relu-xavier-d3-moons-s0-bs0.2"),
    (["init=critical_line", "init.params.q_star=0.015625"], "relu-critical_line-d3-moons-s0-q_star0.015625"),
    (["init=lecun_normal", "init.params.gain=1.5"], "relu-lecun_normal-d3-moons-s0-gain1.5"),
    (
        ["+experiments=activation_ranking", "activation=tanh", "dataset=moons", "optimizer.lr=0.01"],
        "tanh-pytorch-d4-moons-s0-lr0.01",
    ),
    (["model=tutorial_example"], "tutorial_example-tutorial_randn-s0"),
    (
        ["model=per_layer", f"model.layers=[{LAYER % 0.0}]", "model.name=mine", "optimizer.lr=0.1"],
        "mine-moons-s0-lr0.1",
    ),
    (["model=per_layer", f"model.layers=[{LAYER % 0.3}, {LAYER % 0.3}]", "model.name=mine"], "mine-moons-s0-b0.3"),
]


@pytest.mark.parametrize(("overrides", "name"), NAMES, ids=[n for _, n in NAMES])
def test_a_run_is_named_for_what_ran(overrides: list[str], name: str, config: Callable[..., RunConfig]) -> None:
    assert run_name(config(*overrides)) == name


@pytest.mark.parametrize(
    ("study", "narrowed"),
    [("zero_bias", ["activation=relu"]), ("activation_ranking", ["activation=tanh", "dataset=iris"])],
)
def test_the_runs_of_a_study_have_distinct_names(
    study: str, narrowed: list[str], composed: Callable[..., dict]
) -> None:
    """Every job of the study's grid (its own hydra.sweeper.params; the axes that are in every
    name narrowed to one value) gets a name of its own."""
    params = compose("config", [f"+experiments={study}"], return_hydra_config=True).hydra.sweeper.params
    jobs = expand([f"{k}={v}" for k, v in params.items()] + narrowed)
    names = [run_name(parse_config(composed([f"+experiments={study}", *job]))) for job in jobs]
    assert len(set(names)) == len(names) >= 9


def test_names_change_no_identity(config: Callable[..., RunConfig]) -> None:
    """The suffix is in the name only: the pinned identities (tests/test_identity.py) hold."""
    assert config_hash(config("init=pytorch", "init.bias=0.0")) != config_hash(config("init=pytorch"))
    assert run_name(config("threads=2")) == run_name(config())
