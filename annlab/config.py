"""The job's config schema: types, ranges and cross-checks; every default lives once, in conf/'s YAML."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from annlab.part_configs import ActivationConfig, InitConfig

Task = Literal["binary", "multiclass", "regression"]


class ConfigError(ValueError):
    """A config a job cannot run with; the message names the keys, values and what is allowed."""


class _Strict(BaseModel):
    # Misspelled keys are errors, not silently ignored; configs are values, not state.
    model_config = ConfigDict(extra="forbid", frozen=True)


# Names are checked against torch-free lists (annlab.names, annlab.train.datasets): validating a
# config imports no torch or scikit-learn.
class DatasetConfig(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    n_samples: int | None = Field(ge=2)
    val_fraction: float = Field(gt=0.0, lt=1.0)
    # Standardise features on the training split (regression targets always are); false keeps
    # the raw feature scale, which some init experiments depend on.
    standardize: bool = True
    params: dict[str, Any] = Field(default_factory=dict)
    # dataset=file: a CSV or parquet file and its target column; dataset=custom: a function
    # returning (X, y) by its import path. Their task is inferred from the target unless given.
    path: str | None = None
    target: str | None = None
    factory: str | None = Field(default=None, alias="_target_")
    task: Task | None = None

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from annlab.train.datasets import DATASETS, resolve_dataset

        try:
            return resolve_dataset(v)
        except KeyError:
            raise ValueError(f"unknown dataset {v!r}; allowed: {', '.join(DATASETS)}") from None

    @model_validator(mode="after")
    def _sized(self) -> DatasetConfig:
        from annlab.train.datasets import DATASETS

        if self.n_samples is None and not DATASETS[self.name].bundled:
            raise ValueError(f"n_samples is required for the synthetic dataset {self.name!r}")
        wanted = {"file": ("path", "target"), "custom": ("factory",)}.get(self.name, ())
        for key in ("path", "target", "factory", "task"):
            shown = "_target_" if key == "factory" else key
            if key in wanted and getattr(self, key) in (None, "???"):
                raise ValueError(f"dataset={self.name} needs dataset.{shown}")
            if key not in wanted and getattr(self, key) is not None and not (key == "task" and wanted):
                raise ValueError(
                    f"dataset.{shown}={getattr(self, key)}: dataset={self.name} would ignore it, so it is refused"
                )
        return self


class LayerConfig(_Strict):
    """One hidden layer: its width, activation and init."""

    width: int = Field(ge=1)
    activation: ActivationConfig
    init: InitConfig


class UniformModel(_Strict):
    """`model=mlp`: `depth` hidden layers of one `width`, with the activation and init groups'
    choices; the output layer uses the same init."""

    name: str
    depth: int = Field(ge=0)
    width: int = Field(ge=1)


def _ignored(value: object, key: str, why: str) -> None:
    if value is not None:
        raise ValueError(f"model.{key}={value!r}: {why}; this value would be ignored, so it is refused")


class PerLayerModel(_Strict):
    """`model=per_layer` (and the tutorial's network): every hidden layer says its own width,
    activation and init; depth and width follow from the list."""

    name: str
    layers: tuple[LayerConfig, ...]
    output_init: InitConfig
    # The number of input features and the task the model is built for; None: the dataset's.
    in_features: int | None = Field(default=None, ge=1)
    task: Task | None = None
    # Present in the YAML only to refuse them with a reason (a per-layer model has no use for them).
    depth: None = None
    width: None = None

    @model_validator(mode="before")
    @classmethod
    def _no_uniform_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            n = len(data.get("layers") or ())
            for key in ("depth", "width"):
                _ignored(data.get(key), key, f"model={data.get('name')} takes its {key} from model.layers ({n} layers)")
        return data


def _model_shape(value: Any) -> str:
    layers = value.get("layers") if isinstance(value, dict) else getattr(value, "layers", None)
    return "per_layer" if layers is not None else "uniform"


ModelConfig = Annotated[
    Annotated[UniformModel, Tag("uniform")] | Annotated[PerLayerModel, Tag("per_layer")],
    Discriminator(_model_shape),
]


class OptimizerConfig(_Strict):
    name: Literal["sgd", "adam"]
    lr: float = Field(gt=0.0)
    momentum: float = Field(ge=0.0, lt=1.0)
    weight_decay: float = Field(ge=0.0)


class TrainerConfig(_Strict):
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)


class ProbeConfig(_Strict):
    every: int = Field(ge=1)
    # fixed: one fixed batch of training examples, probed with its own forward and backward pass
    # (the same examples at every probe); train: the training step's own batch, reusing its pass.
    batch: Literal["fixed", "train"] = "fixed"
    batch_size: int | None = Field(ge=2)
    # Probe steps that also record every layer's distributions of z, a, dL/dz and dL/dW
    # (distributions.parquet): this many, evenly spaced, step 0 and the last among them; 0: none.
    distributions: int = Field(default=5, ge=0)
    # Probe examples whose Jacobian dz_L / dz_1 at initialisation has its singular values recorded
    # (jacobian_spectrum.parquet, float64); 0: none.
    spectrum: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _sized(self) -> ProbeConfig:
        if self.batch == "fixed" and self.batch_size is None:
            raise ValueError("probe.batch=fixed needs probe.batch_size (the rows of the fixed probe batch)")
        if self.batch == "train" and self.batch_size is not None:
            raise ValueError(
                f"probe.batch=train probes the training step's own batch: probe.batch_size={self.batch_size} "
                "would be ignored, so it is refused (use probe=train, or probe.batch_size=null)"
            )
        return self


class TrackingConfig(_Strict):
    # None: MLFLOW_TRACKING_URI if set, else sqlite:///mlflow.db in the working directory.
    uri: str | None
    experiment: str = Field(min_length=1)
    # Seconds without a heartbeat after which a RUNNING run on another host counts as gone.
    stale_after: float = Field(gt=0)
    # At most this many points per per-layer metric series in MLflow (step 0 and the last step
    # always among them); layer_stats.parquet keeps every probe step.
    metric_points: int = Field(ge=2)


class RunConfig(_Strict):
    """Everything one job needs: the resolved config, typed and checked."""

    # None for a per-layer model, whose layers carry their own.
    activation: ActivationConfig | None = None
    init: InitConfig | None = None
    dataset: DatasetConfig
    model: ModelConfig
    optimizer: OptimizerConfig
    trainer: TrainerConfig
    probe: ProbeConfig
    tracking: TrackingConfig
    seed: int = Field(ge=0)
    device: Literal["auto", "cpu", "cuda"]
    threads: int = Field(ge=1)
    # Skip a job whose identical config already has a FINISHED run in the experiment.
    resume: bool
    # How a job shows its progress (annlab.progress): auto (a bar on a terminal, plain lines
    # elsewhere), bar, lines, off. Not part of what ran: out of the resume identity.
    progress: Literal["auto", "bar", "lines", "off"] = "auto"

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        from annlab.train.datasets import DATASETS

        model = self.model
        if isinstance(model, UniformModel):
            missing = [k for k in ("activation", "init") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"model={model.name} needs {' and '.join(missing)} (a config group choice)")
            return self
        for key in ("activation", "init"):
            if getattr(self, key) is not None:
                raise ValueError(
                    f"{key}={getattr(self, key).name}: model={model.name} sets every layer's {key} in model.layers; "
                    "this value would be ignored, so it is refused"
                )
        task = self.dataset.task or DATASETS[self.dataset.name].task
        if model.task is not None and task != "infer" and model.task != task:  # a file's: checked on its data
            raise ValueError(
                f"model={model.name} is built for a {model.task} task but dataset={self.dataset.name} is {task}"
            )
        return self

    @property
    def hidden_layers(self) -> tuple[LayerConfig, ...]:
        if isinstance(self.model, PerLayerModel):
            return self.model.layers
        assert self.activation is not None and self.init is not None
        layer = LayerConfig(width=self.model.width, activation=self.activation, init=self.init)
        return (layer,) * self.model.depth

    @property
    def output_init(self) -> InitConfig:
        if isinstance(self.model, PerLayerModel):
            return self.model.output_init
        assert self.init is not None
        return self.init

    @property
    def depth(self) -> int:
        return len(self.hidden_layers)

    @property
    def per_layer(self) -> bool:
        return isinstance(self.model, PerLayerModel)


_SHAPE_TAGS = {"uniform", "per_layer"}


def parse_config(data: dict[str, Any]) -> RunConfig:
    """Build the RunConfig from a plain (resolved) dict; ConfigError lists every problem."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            loc = [str(p) for i, p in enumerate(e["loc"]) if not (i == 1 and p in _SHAPE_TAGS)]
            key = ".".join(loc)
            msg = e["msg"].removeprefix("Value error, ")
            value = e.get("input")
            if not key or re.match(r"[\w.]+=", msg):  # our own messages name key and value already
                lines.append(f"  {msg}")
                continue
            shown = "" if isinstance(value, dict) else f"={value!r}"
            lines.append(f"  {key}{shown}: {msg}")
        raise ConfigError("invalid config:\n" + "\n".join(lines)) from None


def layer(width: int, activation: str, init: str, init_params: dict[str, Any] | None = None) -> LayerConfig:
    """A hidden layer from names, for code that builds an MLP by hand (tests, benchmarks, notebooks)."""
    return LayerConfig(
        width=width, activation=ActivationConfig(name=activation), init=InitConfig(name=init, params=init_params or {})
    )


def init(name: str, params: dict[str, Any] | None = None, bias: float | str = 0.0) -> InitConfig:
    """An init from its name, for code that builds an MLP by hand."""
    return InitConfig(name=name, params=params or {}, bias=bias)  # type: ignore[arg-type]
