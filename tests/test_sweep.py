"""The README's sweep, end to end through the real CLI, Hydra and a real SQLite MLflow store."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from conftest import FAST, Result, run_cli
from mlflow.tracking import MlflowClient

from annlab.record import STATS, layer_key, resolve_uri
from annlab.train.experiments import ensure_experiment

NAMES = {f"{a}-{i}-d3-moons-s0" for a in ("relu", "tanh") for i in ("kaiming", "xavier")}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    cwd = tmp_path_factory.mktemp("sweep")
    proc = run_cli(["-m", "activation=relu,tanh", "init=kaiming,xavier"], cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd, proc.stdout


def runs(cwd: Path, experiment: str = "annlab") -> list:
    if not (cwd / "mlflow.db").exists():  # nothing written (opening it would make a store)
        return []
    client = MlflowClient(f"sqlite:///{cwd / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id]) if exp else []


def test_four_finished_runs_with_contracted_names(sweep: tuple[Path, str]) -> None:
    cwd, out = sweep
    found = runs(cwd)
    assert {r.info.run_name for r in found} == NAMES
    assert {r.info.status for r in found} == {"FINISHED"}
    for i in range(1, 5):
        assert f"job {i}/4 running" in out
    assert out.count(": FINISHED val/loss=") == 4


def test_params_and_tags_hold_the_resolved_config_and_choices(sweep: tuple[Path, str]) -> None:
    cwd, _ = sweep
    for run in runs(cwd):
        act, init = run.info.run_name.split("-")[:2]
        params, tags = run.data.params, run.data.tags
        assert params["activation.name"] == act and params["init.name"] == init
        assert params["model.depth"] == "3" and params["dataset.name"] == "moons" and params["seed"] == "0"
        assert params["optimizer.name"] == "sgd" and params["trainer.epochs"] == "20"
        assert tags["annlab.choice.activation"] == act and tags["annlab.choice.init"] == init
        assert tags["annlab.sweep"].startswith("multirun/") and tags["annlab.code_version"]


def test_every_stat_of_every_layer_from_step_zero(sweep: tuple[Path, str]) -> None:
    cwd, _ = sweep
    run = runs(cwd)[0]
    keys = {layer_key(layer, stat) for layer in range(1, 5) for stat in STATS}
    assert keys <= set(run.data.metrics)
    assert {"train/loss", "train/acc", "val/loss", "val/acc"} <= set(run.data.metrics)
    # One SQL query over the store: every layer key has step 0 and the same probe steps.
    with sqlite3.connect(cwd / "mlflow.db") as db:
        rows = db.execute(
            "SELECT key, MIN(step), COUNT(*) FROM metrics WHERE run_uuid = ? AND key LIKE '%/layer_%' GROUP BY key",
            (run.info.run_id,),
        ).fetchall()
    assert {k for k, _, _ in rows} == keys
    assert {first for _, first, _ in rows} == {0}
    counts = {n for _, _, n in rows}
    assert len(counts) == 1 and counts.pop() == len(range(0, 13 * 20, 50)) + 1  # 0, 50, ..., 250 and 259


def test_artifacts_config_summary_and_layer_table(sweep: tuple[Path, str]) -> None:
    cwd, _ = sweep
    run = runs(cwd)[0]
    client = MlflowClient(f"sqlite:///{cwd / 'mlflow.db'}")
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {
        "config.yaml",
        "model_summary.txt",
        "layer_stats.parquet",
        "epochs.parquet",
        "network.parquet",
        "distributions.parquet",
    }
    epochs = pd.read_parquet(client.download_artifacts(run.info.run_id, "epochs.parquet"))
    # Epoch 0 is the state before any update: what a user reads first when an init is too large.
    assert list(epochs.epoch) == list(range(0, 21)) and {"val/loss", "val/acc"} <= set(epochs.columns)
    assert epochs.step.iloc[0] == 0 and epochs["train/loss"].iloc[0] > epochs["train/loss"].iloc[-1]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val/loss")] == list(range(0, 21))
    network = pd.read_parquet(client.download_artifacts(run.info.run_id, "network.parquet"))
    assert list(network.name) == ["linear1", "linear2", "linear3", "out"]
    assert list(network.fan_in) == [2, 32, 32, 32] and list(network.fan_out) == [32, 32, 32, 1]
    act, init = run.info.run_name.split("-")[:2]
    assert list(network.activation) == [act] * 3 + ["sigmoid"]  # binary task: sigmoid output
    # sigma_w^2 = Var(W) * fan_in: kaiming (relu gain) 2, xavier 2 * fan_in / (fan_in + fan_out)
    expected = 2.0 if init == "kaiming" else 2 * 32 / 64
    assert network.sigma_w2.iloc[1] == pytest.approx(expected)
    assert network.input_second_moment.iloc[0] == pytest.approx(1.0, abs=1e-3)  # standardised features
    table = pd.read_parquet(client.download_artifacts(run.info.run_id, "layer_stats.parquet"))
    assert list(table.columns) == ["step", "layer", *STATS]
    assert sorted(table.layer.unique()) == [1, 2, 3, 4] and table.step.min() == 0
    # The correlation map's prediction for the probe batch: layer 1's is the expectation over the
    # weights of what was measured there (32 units: within 0.1); the output layer is not predicted.
    predicted = network.example_cosine_theory
    measured = table[table.step == 0].set_index("layer").example_cosine
    assert predicted.iloc[0] == pytest.approx(measured[1], abs=0.1) and predicted.iloc[:3].between(-1, 1).all()
    assert predicted.iloc[3] != predicted.iloc[3]  # NaN
    # The table and the metrics hold the same numbers.
    history = client.get_metric_history(run.info.run_id, "grad_z_norm/layer_02")
    from_table = table[table.layer == 2].set_index("step").grad_z_norm
    assert all(from_table[m.step] == pytest.approx(m.value) for m in history)
    summary = Path(client.download_artifacts(run.info.run_id, "model_summary.txt")).read_text()
    assert "Linear-4" in summary and "Total params: 2,241" in summary
    config = Path(client.download_artifacts(run.info.run_id, "config.yaml")).read_text()
    assert "depth: 3" in config and "hydra" not in config


def test_bad_value_in_a_sweep_fails_before_any_run(tmp_path: Path, cli: Callable[..., Result]) -> None:
    proc = cli(["-m", "model.depth=2,-1", "trainer.epochs=1"], tmp_path)
    assert proc.returncode == 2
    assert "1 of 2 jobs have a bad config; nothing was run" in proc.stderr
    assert "model.depth=-1: Input should be greater than or equal to 0" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert runs(tmp_path) == []


def test_unknown_group_option_lists_the_allowed_ones(tmp_path: Path, cli: Callable[..., Result]) -> None:
    proc = cli(["-m", "activation=relu,swish"], tmp_path)
    assert proc.returncode != 0
    assert "Could not find 'activation/swish'" in proc.stderr and "Available options in 'activation'" in proc.stderr
    assert "sigmoid" in proc.stderr and "Traceback" not in proc.stderr
    assert runs(tmp_path) == []


def test_a_diverging_job_does_not_stop_the_sweep(tmp_path: Path, cli: Callable[..., Result]) -> None:
    args = [
        "-m",
        "optimizer.lr=1e6,0.01",
        "dataset=diabetes",
        "trainer.epochs=2",
        "model.depth=3",
        "tracking.experiment=faults",
    ]
    proc = cli(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = {r.data.params["optimizer.lr"]: r for r in runs(tmp_path, "faults")}
    assert {r.info.status for r in found.values()} == {"FINISHED"}
    assert found["1000000.0"].data.tags.get("diverged") == "true"
    assert "diverged" not in found["0.01"].data.tags
    assert "DIVERGED" in proc.stdout


def test_tracking_uri_from_config_env_or_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_uri(None, tmp_path) == f"sqlite:///{tmp_path}/mlflow.db"
    assert resolve_uri("sqlite:///x.db", tmp_path) == f"sqlite:///{tmp_path}/x.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert resolve_uri(None, tmp_path) == "http://127.0.0.1:5999"
    assert resolve_uri("sqlite:////abs/s.db", tmp_path) == "sqlite:////abs/s.db"


def test_artifacts_live_beside_the_sqlite_store(
    sweep: tuple[Path, str], tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """Not in ./mlruns of whatever folder the job ran from (MLflow's default)."""
    cwd, _ = sweep
    folders = {Path(run.info.artifact_uri).parent.parent for run in runs(cwd)}
    assert folders == {cwd / "mlruns" / "annlab"}
    store = tmp_path / "elsewhere" / "store.db"
    store.parent.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    proc = cli([*FAST, f"tracking.uri=sqlite:///{store}", "tracking.experiment=my study/1"], work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = MlflowClient(f"sqlite:///{store}").search_runs([ensure_experiment(f"sqlite:///{store}", "my study/1")])[0]
    assert Path(run.info.artifact_uri).parent.parent == store.parent / "mlruns" / "my_study_1"
    assert (Path(run.info.artifact_uri) / "layer_stats.parquet").is_file()
    assert not (work / "mlruns").exists()


def test_a_per_layer_model_records_the_network_it_built(tmp_path: Path, cli: Callable[..., Result]) -> None:
    """The tutorial's network: params, tags, config.yaml and the network table say what was built,
    layer by layer, and nothing of the groups it does not use."""
    proc = cli(["model=tutorial_example", "trainer.epochs=2"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = runs(tmp_path)
    params, tags = run.data.params, run.data.tags
    assert run.info.run_name == "tutorial_example-tutorial_randn-s0"
    assert not any(k.startswith(("activation.", "init.")) for k in params)
    assert not any(k in tags for k in ("annlab.choice.activation", "annlab.choice.init"))
    assert params["model.layers.0.activation.name"] == "sigmoid" and params["model.layers.1.activation.name"] == "relu"
    assert params["model.layers.0.init.name"] == "xavier_normal" and params["model.layers.1.width"] == "2"
    assert tags["annlab.activation"] == "sigmoid,relu" and tags["annlab.init"] == "xavier_normal,kaiming_normal"
    assert tags["annlab.depth"] == "2" and tags["annlab.model"] == "tutorial_example"
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    config = Path(client.download_artifacts(run.info.run_id, "config.yaml")).read_text()
    assert "activation:\n  name" not in config and "name: sigmoid" in config
    network = pd.read_parquet(client.download_artifacts(run.info.run_id, "network.parquet"))
    assert list(zip(network.name, network.fan_in, network.fan_out, network.activation, network.init, strict=True)) == [
        ("linear1", 3, 3, "sigmoid", "xavier_normal"),
        ("linear2", 3, 2, "relu", "kaiming_normal"),
        ("out", 2, 2, "softmax", "pytorch"),
    ]


def test_an_interpolation_the_pre_check_cannot_resolve_stops_the_sweep(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """A per-layer model has no init group to interpolate: the pre-check refuses the sweep before
    any job (it never fails open into an unchecked sweep)."""
    layers = "model.layers=[{width:10,activation:{name:relu,params:{}},init:${init}}]"
    proc = cli(["-m", "model=per_layer", layers, "model.name=x", "seed=0,1", "trainer.epochs=1"], tmp_path)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "nothing was run" in proc.stderr and "job 1/" not in proc.stdout
    assert "Traceback" not in proc.stderr
    assert runs(tmp_path) == []


def test_two_sweeps_in_one_folder_count_only_their_own_jobs(tmp_path: Path, cli: Callable[..., Result]) -> None:
    """Two sweeps started in the same second share Hydra's sweep folder (here: the same one on
    purpose); each summary still counts its own jobs."""
    folder = "hydra.sweep.dir=multirun/shared"
    first = cli(["-m", "seed=0,1", "trainer.epochs=1", "dataset.n_samples=200", folder], tmp_path)
    second = cli(["-m", "seed=2,3,4", "trainer.epochs=1", "dataset.n_samples=200", folder], tmp_path)
    assert "sweep summary: 2 jobs: 2 finished" in first.stdout
    assert "sweep summary: 3 jobs: 3 finished, 0 diverged, 0 failed, 0 killed, 0 skipped" in second.stdout
