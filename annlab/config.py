"""Typed, validated configuration of one job; built once from a plain dict at the entry point."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from annlab.activations import ACTIVATIONS
from annlab.data import DATASETS
from annlab.inits import INIT_NAMES


class ConfigError(ValueError):
    """A config a job cannot run with; the message names the keys, values and what is allowed."""


class _Strict(BaseModel):
    # Misspelled keys are errors, not silently ignored; configs are values, not state.
    model_config = ConfigDict(extra="forbid", frozen=True)


class ActivationConfig(_Strict):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in ACTIVATIONS:
            raise ValueError(f"unknown activation {v!r}; allowed: {', '.join(ACTIVATIONS)}")
        return v


class InitConfig(_Strict):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    bias: float | Literal["default"] = 0.0

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in INIT_NAMES:
            raise ValueError(f"unknown init {v!r}; allowed: {', '.join(INIT_NAMES)}")
        return v


class DatasetConfig(_Strict):
    name: str
    n_samples: int | None = Field(default=None, ge=2)
    val_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in DATASETS:
            raise ValueError(f"unknown dataset {v!r}; allowed: {', '.join(DATASETS)}")
        return v

    @model_validator(mode="after")
    def _sized(self) -> DatasetConfig:
        if self.n_samples is None and not DATASETS[self.name].bundled:
            raise ValueError(f"n_samples is required for the synthetic dataset {self.name!r}")
        return self

    @property
    def task(self) -> str:
        return DATASETS[self.name].task


class LayerConfig(_Strict):
    """One hidden layer of a non-uniform model (`model.layers`)."""

    width: int = Field(ge=1)
    activation: ActivationConfig
    init: InitConfig


class ModelConfig(_Strict):
    name: str = "mlp"
    depth: int = Field(default=3, ge=0)
    width: int = Field(default=32, ge=1)
    # Per-layer activation/init; when given, depth and width come from it.
    layers: tuple[LayerConfig, ...] | None = None
    # The output layer's init; None: the same init as the hidden layers.
    output_init: InitConfig | None = None
    # The number of input features the model is built for; None: whatever the dataset has.
    in_features: int | None = Field(default=None, ge=1)
    # The task the model is built for; None: whatever the dataset poses.
    task: Literal["binary", "multiclass", "regression"] | None = None


class OptimizerConfig(_Strict):
    name: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(default=0.05, gt=0.0)
    momentum: float = Field(default=0.0, ge=0.0, lt=1.0)
    weight_decay: float = Field(default=0.0, ge=0.0)


class TrainerConfig(_Strict):
    epochs: int = Field(default=20, ge=1)
    batch_size: int = Field(default=64, ge=1)


class ProbeConfig(_Strict):
    every: int = Field(default=50, ge=1)
    batch_size: int = Field(default=256, ge=2)


class TrackingConfig(_Strict):
    # None: MLFLOW_TRACKING_URI if set, else sqlite:///mlflow.db in the working directory.
    uri: str | None = None
    experiment: str = Field(default="annlab", min_length=1)


class RunConfig(_Strict):
    """Everything one job needs: the resolved config, typed and checked."""

    activation: ActivationConfig
    init: InitConfig
    dataset: DatasetConfig
    model: ModelConfig
    optimizer: OptimizerConfig = OptimizerConfig()
    trainer: TrainerConfig = TrainerConfig()
    probe: ProbeConfig = ProbeConfig()
    tracking: TrackingConfig = TrackingConfig()
    seed: int = Field(default=0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(default=1, ge=1)
    # Skip a job whose identical config already has a FINISHED run in the experiment.
    resume: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        task = self.dataset.task
        if self.model.task is not None and self.model.task != task:
            raise ValueError(
                f"model={self.model.name} is built for a {self.model.task} task but "
                f"dataset={self.dataset.name} is {task}"
            )
        return self

    @property
    def hidden_layers(self) -> tuple[LayerConfig, ...]:
        if self.model.layers is not None:
            return self.model.layers
        return tuple(
            LayerConfig(width=self.model.width, activation=self.activation, init=self.init)
            for _ in range(self.model.depth)
        )

    @property
    def depth(self) -> int:
        return len(self.hidden_layers)


def parse_config(data: dict[str, Any]) -> RunConfig:
    """Build the RunConfig from a plain (resolved) dict; ConfigError lists every problem."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            key = ".".join(str(p) for p in e["loc"])
            msg = e["msg"].removeprefix("Value error, ")
            value = e.get("input")
            shown = "" if isinstance(value, dict) else f"={value!r}"
            lines.append(f"  {key}{shown}: {msg}" if key else f"  {msg}")
        raise ConfigError("invalid config:\n" + "\n".join(lines)) from None
