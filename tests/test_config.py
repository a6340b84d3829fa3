"""Real Hydra composition of conf/: every group option composes; bad values fail with key and value."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from annlab.config import ConfigError, RunConfig, parse_config
from annlab.train.data import ALIASES as DATASET_ALIASES
from annlab.train.data import DATASETS
from annlab.train.setup import check, prepare

ONE_LAYER = "model.layers=[{width:4,activation:{name:tanh},init:{name:xavier}}]"
CONF = Path(__file__).resolve().parent.parent / "conf"


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_groups_hold_the_contracted_options() -> None:
    assert {
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "prelu",
        "elu",
        "selu",
        "gelu",
        "silu",
        "identity",
    } <= set(options("activation"))
    assert {
        "zeros",
        "ones",
        "constant",
        "uniform",
        "normal",
        "xavier_normal",
        "xavier_uniform",
        "kaiming_normal",
        "kaiming_uniform",
        "orthogonal",
        "lecun_normal",
        "default",
        "xavier",
        "kaiming",
    } <= set(options("init"))
    assert {
        "moons",
        "circles",
        "blobs",
        "spirals",
        "classification",
        "regression",
        "iris",
        "wine",
        "breast_cancer",
        "digits",
        "diabetes",
    } <= set(options("dataset"))
    assert set(options("dataset")) == set(DATASETS) | set(DATASET_ALIASES)
    assert {"mlp", "per_layer", "tutorial_example", "seed_example"} <= set(options("model"))


@pytest.mark.parametrize("group", ["activation", "init", "dataset", "model", "optimizer"])
def test_every_option_composes_and_builds(group: str, config: Callable[..., RunConfig], tmp_path: Path) -> None:
    pd.DataFrame({"a": [0.1 * i for i in range(200)], "y": [i % 2 for i in range(200)]}).to_csv(tmp_path / "d.csv")
    for option in options(group):
        extra = [ONE_LAYER] if option == "per_layer" else []
        if option == "custom":  # the user's own activation or init by its import path
            extra = {
                "activation": ["activation._target_=torch.tanh", "activation.name=mytanh"],
                "init": ["init._target_=torch.nn.init.xavier_normal_", "init.name=myxavier"],
                "dataset": ["dataset._target_=userparts.acts.two_blobs"],
            }[group]
        if option == "file":
            extra = [f"dataset.path={tmp_path / 'd.csv'}", "dataset.target=y"]
        cfg = config(f"{group}={option}", "dataset.n_samples=200" if group != "dataset" else "trainer.epochs=1", *extra)
        check(cfg)  # data made, model built: nothing left to fail at training time


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.depth=-1", "model.depth=-1: Input should be greater than or equal to 0"),
        ("model.width=0", "model.width=0: Input should be greater than or equal to 1"),
        ("optimizer.lr=0", "optimizer.lr=0: Input should be greater than 0"),
        ("optimizer.lr=-0.1", "optimizer.lr=-0.1: Input should be greater than 0"),
        ("trainer.epochs=0", "trainer.epochs=0: Input should be greater than or equal to 1"),
        ("trainer.batch_size=0", "trainer.batch_size=0: Input should be greater than or equal to 1"),
        ("dataset.n_samples=1", "dataset.n_samples=1: Input should be greater than or equal to 2"),
        ("dataset.val_fraction=1.5", "dataset.val_fraction=1.5: Input should be less than 1"),
        ("probe.every=0", "probe.every=0: Input should be greater than or equal to 1"),
        ("model.depth=three", "model.depth='three': Input should be a valid integer"),
        ("device=tpu", "device='tpu': Input should be 'auto', 'cpu' or 'cuda'"),
        ("optimizer.name=rmsprop", "optimizer.name='rmsprop': Input should be 'sgd' or 'adam'"),
        ("activation.name=swish", "unknown activation 'swish'; allowed: sigmoid, tanh"),
        ("init.name=glorot", "unknown init 'glorot'; allowed: zeros, ones"),
    ],
)
def test_bad_values_name_key_value_and_what_is_allowed(
    override: str, message: str, composed: Callable[..., dict]
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(composed([override]))
    assert message in str(err.value)


def test_misspelled_keys_are_rejected(composed: Callable[..., dict]) -> None:
    data = composed()
    data["model"]["widht"] = 8
    with pytest.raises(ConfigError, match=r"model.widht=8: Extra inputs are not permitted"):
        parse_config(data)


def test_invalid_combinations_are_rejected_with_the_reason(config: Callable[..., RunConfig]) -> None:
    with pytest.raises(ConfigError, match="built for a multiclass task but dataset=diabetes is regression"):
        config("model=seed_example", "dataset=diabetes")
    with pytest.raises(ConfigError, match="takes 3 input features but dataset=iris has 4"):
        prepare(config("model=seed_example", "dataset=iris"))
    with pytest.raises(ConfigError, match="n_samples is required for the synthetic dataset 'moons'"):
        config("dataset.n_samples=null")
    with pytest.raises(ConfigError, match="dataset=moons with params"):
        check(config("+dataset.params.wobble=3"))


def test_seed_example_is_the_seeds_network(config: Callable[..., RunConfig]) -> None:
    cfg = config("model=seed_example")
    assert cfg.model.name == "tutorial_example" and cfg == config("model=tutorial_example")
    assert cfg.dataset.name == "tutorial_randn" and cfg.model.task == "multiclass"
    layers = cfg.hidden_layers
    assert [(layer.width, layer.activation.name, layer.init.name) for layer in layers] == [
        (3, "sigmoid", "xavier_normal"),
        (2, "relu", "kaiming_normal"),
    ]
    assert layers[1].init.params == {"nonlinearity": "relu"}
    assert cfg.output_init.name == "pytorch" and cfg.output_init.bias == "default"
    assert cfg.activation is None and cfg.init is None  # the groups it does not use are not in its record


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["activation=tanh"], "activation=tanh: model=tutorial_example sets every layer's activation in model.layers"),
        (["init=xavier"], "init=xavier: model=tutorial_example sets every layer's init in model.layers"),
        (["model.depth=7"], "model.depth=7: model=tutorial_example takes its depth from model.layers (2 layers)"),
        (["model.width=99"], "model.width=99: model=tutorial_example takes its width from model.layers"),
    ],
)
def test_a_value_the_per_layer_model_would_ignore_is_refused(
    overrides: list[str], message: str, config: Callable[..., RunConfig]
) -> None:
    with pytest.raises(ConfigError) as err:
        config("model=tutorial_example", *overrides)
    assert message in str(err.value) and "would be ignored" in str(err.value)


def test_a_per_layer_model_from_the_command_line(config: Callable[..., RunConfig]) -> None:
    cfg = config(
        "model=per_layer",
        "model.layers=[{width:4,activation:{name:tanh},init:{name:xavier}},"
        "{width:3,activation:{name:relu},init:{name:kaiming}}]",
        "model.name=mine",
    )
    assert [(la.width, la.activation.name, la.init.name) for la in cfg.hidden_layers] == [
        (4, "tanh", "xavier"),
        (3, "relu", "kaiming"),
    ]
    assert cfg.depth == 2 and cfg.per_layer
    with pytest.raises(ConfigError, match="model=mine sets every layer's activation"):
        config("model=per_layer", ONE_LAYER, "model.name=mine", "activation=sigmoid")
