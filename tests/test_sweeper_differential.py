"""annlab's sweeper against Hydra's own sweeper and composition, job by job, on a seeded corpus."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import CONF
from hydra import initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from override_corpus import Case, corpus

from hydra_plugins.annlab_launchers.sweeper import AnnlabSweeper, Composer

CASES = 200
# The Hydra node's fields that list the job's own overrides: annlab's composition is shared by
# every job with the same config-group choices, and a job run by annlab reads neither.
PER_JOB = (("overrides", "task"), ("job", "override_dirname"))


class Context:
    """What the sweeper needs of Hydra's context: its config loader."""

    def __init__(self, loader: Any) -> None:
        self.config_loader = loader


def outcome(compose: Any) -> tuple[str, Any]:
    """("ok", the config as data, its Hydra node, its resolved form) or ("refused", Hydra's reason)."""
    try:
        cfg = compose()
    except Exception as err:
        return "refused", f"{type(err).__name__}: {err}"
    if isinstance(cfg, tuple):
        cfg, node = cfg
    else:
        node = cfg.hydra
        cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    node = OmegaConf.to_container(node)
    for parent, leaf in PER_JOB:
        node[parent].pop(leaf)
    try:
        resolved: Any = OmegaConf.to_container(cfg, resolve=True)
    except Exception as err:
        resolved = f"unresolvable: {type(err).__name__}"
    return "ok", (OmegaConf.to_container(cfg), node, resolved)


class Sides:
    """Hydra's side (its basic sweeper's expansion, its config loader's composition of each job)
    and annlab's (its sweeper's expansion, its Composer), on one master config per command line's
    Hydra overrides and study."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.masters: dict[tuple[str, ...], tuple[DictConfig, Composer]] = {}

    def master(self, case: Case) -> tuple[DictConfig, Composer]:
        key = (*case.hydra, *(o for o in case.task if o.startswith("+experiments=")))
        if key not in self.masters:
            master = self.loader.load_configuration("config", list(key), run_mode=RunMode.MULTIRUN)
            self.masters[key] = (master, Composer(self.loader, master))
        return self.masters[key]

    def hydras(self, master: DictConfig, case: Case) -> Any:
        params = master.hydra.sweeper.params or {}
        lines = [f"{k}={v}" for k, v in params.items()] + list(case.task)
        parser = OverridesParser.create(config_loader=self.loader)
        jobs = BasicSweeper.split_arguments(parser.parse_overrides(lines), None)[0]
        return [(job, outcome(lambda job=job: self.loader.load_sweep_config(master, job))) for job in jobs]

    def annlabs(self, master: DictConfig, composer: Composer, case: Case) -> Any:
        params = master.hydra.sweeper.params
        sweeper = AnnlabSweeper(params=dict(params) if params else None)
        sweeper.hydra_context = Context(self.loader)  # type: ignore[assignment]
        jobs = sweeper.jobs(list(case.task))
        return [(job, outcome(lambda job=job: composer.compose(job))) for job in jobs]


def first_difference(a: Any, b: Any, path: str = "") -> str:
    """The first key (dotted path) at which `a` and `b` differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b or a[key] != b[key]:
                return first_difference(a.get(key), b.get(key), f"{path}.{key}".lstrip("."))
    if isinstance(a, list | tuple) and isinstance(b, list | tuple) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
    return f"{path or '(root)'}: annlab {a!r} != Hydra {b!r}"


@pytest.fixture(scope="module")
def sides(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[Sides]:
    monkeypatch_module.setenv("ANNLAB_CORPUS_NAME", "from-env")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        yield Sides(GlobalHydra.instance().config_loader())


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as m:
        yield m


def test_the_corpus_covers_every_form_the_issue_names() -> None:
    text = "\n".join(str(c) for c in corpus(CASES))
    forms = ["model=per_layer", "model=tutorial_example", "model=seed_example", "init=default", "model.layers=",
             "+extra", "++", "~", "${init}", "${oc.env:", ",", "range(", "choice(", "glob(", "interval(",
             "'a, b c'", "\\,", "+experiments=", "hydra.job.chdir", "activation={"]  # fmt: skip
    assert [f for f in forms if f not in text] == []
    assert len({str(c) for c in corpus(CASES)}) >= CASES * 0.9  # few repeats


def compare(sides: Sides, cases: list[Case]) -> tuple[int, int]:
    """For every command line of `cases`: the same jobs, and for each job the same config and
    Hydra node (less the per-job override lists), or the same refusal with Hydra's reason. The
    number of jobs compared and of refusals."""
    compared = refused = 0
    for case in cases:
        master, composer = sides.master(case)
        try:
            theirs = sides.hydras(master, case)
        except Exception as err:  # Hydra's sweeper refuses the sweep itself (interval)
            with pytest.raises(type(err)) as ours:
                sides.annlabs(master, composer, case)
            assert str(ours.value) == str(err), case
            refused += 1
            continue
        mine = sides.annlabs(master, composer, case)
        assert [job for job, _ in mine] == [job for job, _ in theirs], case
        for (job, a), (_, h) in zip(mine, theirs, strict=True):
            assert a[0] == h[0], f"{case}: job {job}: annlab {a[0]}, Hydra {h[0]}: {a[1] if a[0] != 'ok' else h[1]}"
            if a[0] == "refused":
                assert a[1] == h[1], f"{case}: job {job}"
                refused += 1
            elif a[1] != h[1]:
                pytest.fail(f"{case}: job {job}: first difference at {first_difference(a[1], h[1])}")
            compared += 1
    return compared, refused


def test_annlabs_sweeper_composes_every_job_as_hydra_does(sides: Sides) -> None:
    """The corpus's even command lines (the odd ones: test_sweeper_differential_odd.py, so that
    the two halves run side by side, each Hydra composition costing ~0.1 s)."""
    compared, refused = compare(sides, corpus(CASES)[0::2])
    assert compared >= CASES / 2 and refused >= 3
