"""The run record both wings share: tag keys, artifact names, stat names, task types; no heavy imports."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# -- where the record lives ----------------------------------------------------------------------
# MLflow's own embedded default: a SQLite file in the folder a command runs from.
DEFAULT_STORE = "mlflow.db"


def resolve_uri(uri: str | None, cwd: Path | None = None) -> str:
    """The tracking URI: `uri`, else MLFLOW_TRACKING_URI, else sqlite:///<cwd>/mlflow.db.

    A relative sqlite path is made absolute against `cwd`, so that jobs in other processes
    or folders (launchers, Hydra's output dirs) all write to the same store.
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{DEFAULT_STORE}"
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        uri = prefix + str((cwd or Path.cwd()) / uri[len(prefix) :])
    return uri


# -- names renamed since the first release -------------------------------------------------------
# Per config group, old name -> current name. The old names stay accepted (conf/ has an alias file
# for each), resume identities are computed with the old ones, and the read side groups the first
# release's runs with today's under the current ones.
RENAMED: dict[str, dict[str, str]] = {
    "init": {"default": "pytorch"},
    "model": {"seed_example": "tutorial_example"},
    "dataset": {
        "classification": "make_classification",
        "regression": "make_regression",
        "seed_random": "tutorial_randn",
    },
}


def current_name(group: str, name: str) -> str:
    """Today's name of option `name` of config group `group`."""
    return RENAMED[group].get(name, name)


# -- tags ----------------------------------------------------------------------------------------
TAG = "annlab."
SWEEP = TAG + "sweep"  # the sweep folder a run belongs to
JOB = TAG + "job"  # its 1-based number in the sweep
# hydra/launcher=vectorized: the group it trained in ("3/12") and how many jobs that group held
GROUP = TAG + "group"
GROUP_SIZE = TAG + "group_size"
CHOICE = TAG + "choice."  # + group: the Hydra choice of each config group
CODE_VERSION = TAG + "code_version"
TASK = TAG + "task"  # binary | multiclass | regression
DEPTH = TAG + "depth"  # hidden layers of the network built
MODEL = TAG + "model"  # the model's name
ACTIVATION = TAG + "activation"  # the hidden activation, or the per-layer ones joined by ','
INIT = TAG + "init"  # the weight init, or the per-layer ones joined by ','
CONFIG_HASH = TAG + "config_hash"  # what resume matches on
ERROR = TAG + "error"  # why a run ended FAILED or KILLED
HOST = TAG + "host"  # where the run's process runs
PID = TAG + "pid"  # and its process id: a later sweep on that host ends the run if it is gone
SLURM_JOB = TAG + "slurm_job"  # the SLURM job that ran it (hydra/launcher=slurm), e.g. 1234_5
HEARTBEAT = TAG + "heartbeat"  # unix time of the run's last sign of life, for runs on other hosts
DIVERGED = "diverged"  # "true" on a run whose loss turned non-finite
DIVERGED_REASON = TAG + "diverged_reason"

# -- artifacts -----------------------------------------------------------------------------------
CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "model_summary.txt"
LAYER_TABLE = "layer_stats.parquet"  # a row per (probe step, layer), a column per stat
EPOCH_TABLE = "epochs.parquet"  # a row per epoch, a column per run-level metric
NETWORK_TABLE = "network.parquet"  # a row per linear layer: what the theory needs to predict it
# network.parquet's column of the correlation map's mean pairwise cosine of each layer's
# pre-activations over the probe batch at initialisation (the prediction of example_cosine)
COSINE_THEORY = "example_cosine_theory"
# a row per (recorded probe step, layer, quantity): fixed-bin histogram counts and quantiles
DISTRIBUTIONS_TABLE = "distributions.parquet"
# probe.spectrum > 0: a row per (example, singular value) of the Jacobian dz_L / dz_1 at step 0,
# with the theory's predicted mean and variance of s^2
SPECTRUM_TABLE = "jacobian_spectrum.parquet"
TRACEBACK_FILE = "traceback.txt"

# -- per-layer stats -----------------------------------------------------------------------------
# The order of the rows of every stats tensor the probe returns, and of the layer table's columns.
STATS: tuple[str, ...] = (
    "z_mean",
    "z_std",
    "a_mean",
    "a_std",
    "grad_z_norm",
    "grad_a_norm",
    "grad_w_norm",
    "w_norm",
    "update_ratio",
    "saturated_frac",
    "dead_frac",
    "unit_cosine",
    "example_cosine",
)


# Learned activation parameters (PReLU's slopes): min, mean and max over a layer's parameters, in
# the layer table of a model that has any; only the mean is an MLflow metric, and only for the
# layers that learn one.
ACTIVATION_PARAM_STATS: tuple[str, ...] = ("act_param_min", "act_param_mean", "act_param_max")
ACTIVATION_PARAM_METRIC = "act_param_mean"


def stat_names(rows: int) -> tuple[str, ...]:
    """The stat of each row of a probe's values: STATS, then the learned-parameter stats if present."""
    return STATS if rows == len(STATS) else (*STATS, *ACTIVATION_PARAM_STATS)


def layer_key(layer: int, stat: str) -> str:
    """The MLflow metric key of `stat` at 1-based `layer`: `<stat>/layer_<LL>`."""
    return f"{stat}/layer_{layer:02d}"


# -- tasks ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """What a dataset's task fixes: the output activation, the loss on the logits, the score."""

    output_activation: str
    loss: str
    score: str


TASKS: dict[str, Task] = {
    "binary": Task("sigmoid", "binary_cross_entropy_with_logits", "acc"),
    "multiclass": Task("softmax", "cross_entropy", "acc"),
    "regression": Task("identity", "mse", "r2"),
}
