"""annlab's sweeper: each job composed once, and what it composes is what Hydra composes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result
from hydra import compose
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from annlab.run import config_groups
from hydra_plugins.annlab_launchers.sweeper import Composer, expand, runs_here

SWEEPS = [
    ["+experiments=vanishing_gradients", "activation=sigmoid,relu", "model.depth=1,4", "seed=0,2"],
    ["+experiments=criticality", "init=critical,calibrated", "model.depth=10", "optimizer.lr=1e-3"],
    ["model=per_layer", "seed=0,1", "trainer.epochs=2"],
    ["dataset=iris,diabetes", "++dataset.params.foo=1", "~dataset.params", "+extra.key=3", "hydra.job.chdir=false"],
    ["init=xavier", "init.params.gain=2.5,0.5", "tracking.experiment=a,'b c'", "optimizer=adam"],
]


class Context:
    """What Composer needs of Hydra's context: its config loader."""

    def __init__(self, loader: object) -> None:
        self.config_loader = loader


def composer(composed: Callable[..., dict]) -> tuple[Composer, object, object]:
    """A Composer on the Hydra the session's `composed` fixture initialised on conf/."""
    loader = GlobalHydra.instance().hydra.config_loader  # type: ignore[union-attr]
    master = compose("config", return_hydra_config=True)
    return Composer(Context(loader), master, config_groups()), loader, master  # type: ignore[arg-type]


@pytest.mark.parametrize("sweep", SWEEPS, ids=[s[0] for s in SWEEPS])
def test_each_job_composes_as_hydra_composes_it(sweep: list[str], composed: Callable[..., dict]) -> None:
    ours, loader, master = composer(composed)
    jobs = expand(OverridesParser.create().parse_overrides(sweep))
    assert len(jobs) >= 2
    for job in jobs:
        mine, node = ours.compose(job)
        hydras = OmegaConf.to_container(loader.load_sweep_config(master, job))  # type: ignore[attr-defined]
        hydra_node = hydras.pop("hydra")
        assert OmegaConf.to_container(mine) == hydras, job
        assert OmegaConf.to_container(node.runtime.choices) == hydra_node["runtime"]["choices"], job
        assert OmegaConf.to_container(node.job.env_set) == hydra_node["job"]["env_set"], job
    # one Hydra composition per distinct set of group choices, not one per job
    shaping_keys = config_groups() | {"hydra.job.chdir"}
    shaping = {tuple(o for o in job if o.split("=")[0].lstrip("+~") in shaping_keys) for job in jobs}
    assert len(ours.bases) == len(shaping)


def test_a_bad_value_override_is_refused_as_hydra_refuses_it(composed: Callable[..., dict]) -> None:
    ours, _, _ = composer(composed)
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
