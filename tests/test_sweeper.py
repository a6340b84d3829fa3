"""annlab's sweeper: each job composed once, and what it composes is what Hydra composes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result
from hydra import compose
from hydra.core.global_hydra import GlobalHydra

from annlab.run import expand
from hydra_plugins.annlab_launchers.sweeper import Composer, runs_here


def composer(composed: Callable[..., dict]) -> Composer:
    """A Composer on the Hydra the session's `composed` fixture initialised on conf/."""
    loader = GlobalHydra.instance().hydra.config_loader  # type: ignore[union-attr]
    return Composer(loader, compose("config", return_hydra_config=True))


def test_plain_value_overrides_share_one_composition_per_set_of_group_choices(composed: Callable[..., dict]) -> None:
    """`model.depth=5`, `seed=0,1,2`, `+a=1`, `~key`, a `???` key set, a dict value on a group's
    key: never composed again; group choices and Hydra's own keys are."""
    ours = composer(composed)
    sweep = [
        "+experiments=vanishing_gradients", "activation=sigmoid,relu", "model.depth=1,4", "seed=0,2",
        "++dataset.params.foo=1", "~threads", "+extra.key=3", "hydra.job.chdir=false",
    ]  # fmt: skip
    jobs = expand(sweep)
    for job in jobs:
        ours.compose(job)
    for job in (["model=per_layer", "model.layers=[{width: 2, activation: {name: tanh}, init: {name: xavier}}]"],
                ["model=per_layer", "model.layers=[]", "seed=4"], ["activation={name: gelu}"], ["seed=9"]):  # fmt: skip
        ours.compose(job)
    assert sorted(ours.bases) == sorted(
        [
            ("+experiments=vanishing_gradients", "activation=sigmoid", "hydra.job.chdir=False"),
            ("+experiments=vanishing_gradients", "activation=relu", "hydra.job.chdir=False"),
            ("model=per_layer",),
            (),
        ]
    )
    layers = ours.compose(["model=per_layer", "model.layers=[]", "seed=4"])[0].model.layers
    assert list(layers) == []


def test_a_bad_value_override_is_refused_as_hydra_refuses_it(composed: Callable[..., dict]) -> None:
    ours = composer(composed)
    with pytest.raises(Exception, match=r"Could not override 'model\.widht'"):
        ours.compose(["model.widht=8"])
    with pytest.raises(Exception, match=r"Could not append to config\. An item is already at 'seed'"):
        ours.compose(["+seed=3"])


def test_a_sweep_composes_each_job_once(tmp_path: Path, cli: Callable[..., Result], monkeypatch) -> None:
    """Hydra's config loader is asked once per distinct set of group choices: 2 here, for 8 jobs."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    calls = []
    real = ConfigLoaderImpl.load_sweep_config

    def counted(self, master_config, sweep_overrides):  # type: ignore[no-untyped-def]
        calls.append(list(sweep_overrides))
        return real(self, master_config, sweep_overrides)

    monkeypatch.setattr(ConfigLoaderImpl, "load_sweep_config", counted)
    proc = cli(["-m", "activation=relu,tanh", "model.depth=1,2", "seed=0,1", "trainer.epochs=1"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "8 jobs: 8 finished" in proc.stdout
    assert sorted(calls) == [["activation=relu"], ["activation=tanh"]]


def test_hydras_per_job_values_in_a_job_config_are_refused_before_any_job(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    proc = cli(["-m", "seed=0,1", "tracking.experiment=e${hydra:job.num}"], tmp_path)
    assert proc.returncode == 2 and "2 of 2 jobs have a bad config; nothing was run" in proc.stderr
    assert "a sweep's job config cannot use Hydra's per-job values (${hydra:...})" in proc.stderr


@pytest.mark.parametrize(
    ("overrides", "here"),
    [
        ([], True),
        (["hydra/launcher=joblib"], False),
        (["hydra.job.chdir=true"], False),
        (["+hydra.job.env_set.X=1"], False),
        (["+hydra.callbacks.mine._target_=my.Callback"], False),
        # annlab's key, someone else's callback: Hydra's launcher must call it
        (["hydra.callbacks.annlab._target_=my.Callback"], False),
    ],
)
def test_annlab_runs_the_jobs_itself_only_where_hydras_per_job_machinery_does_nothing(
    overrides: list[str], here: bool, composed: Callable[..., dict]
) -> None:
    composer(composed)  # Hydra initialised on conf/
    config = compose("config", overrides=overrides, return_hydra_config=True)
    assert runs_here(config, [config.hydra]) is here


def test_a_per_layer_sweep_runs_through_the_default_sweeper(tmp_path: Path, cli: Callable[..., Result]) -> None:
    """The issue's command line: an override of the per-layer model's mandatory `???` layers, swept
    over seeds, trains every job (it was taken for a key that does not exist)."""
    layers = "model.layers=[{width: 8, activation: {name: tanh}, init: {name: xavier}}]"
    proc = cli(["-m", "model=per_layer", layers, "model.name=mine", "seed=0,1", "trainer.epochs=1"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 jobs: 2 finished" in proc.stdout
    assert "mine-moons-s0" in proc.stdout and "mine-moons-s1" in proc.stdout
    assert " · 1/2 done, ~" in proc.stdout and " · 2/2 done, ~00:00 left" in proc.stdout  # the sweep's progress


def test_what_hydras_sweeper_cannot_sweep_is_refused_with_hydras_reason(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    proc = cli(["-m", "optimizer.lr=interval(0.01,0.1)"], tmp_path)
    assert proc.returncode == 1
    assert "BasicSweeper does not support sweep type : INTERVAL_SWEEP; nothing was run" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_a_hydra_composition_error_in_a_sweep_exits_as_hydras_own_errors_do(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    proc = cli(["-m", "dataset=moons,iris", "dataset.params.noise=0.3"], tmp_path)  # iris has no noise
    assert proc.returncode == 1 and "1 of 2 jobs have a bad config; nothing was run" in proc.stderr
    assert "Could not override 'dataset.params.noise'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "mlflow.db").exists()
