"""annlab's sweeper against Hydra's own sweeper and composition, job by job, on a seeded corpus.

Hydra composes a job in ~0.15 s here, and the corpus has ~215 jobs: composed live that is
~45 s, more than this test may cost the default suite (issue 22: 20 s). So Hydra's outcomes
are stored (tests/golden/hydra_compositions.json: each job's config, Hydra node and resolved
form as a digest, or Hydra's refusal), keyed by everything they depend on (the config files,
the corpus, the Hydra and OmegaConf versions); the default suite compares annlab's sweeper with
them, and composes live with Hydra only a job whose digest differs, to name the first differing
key. A stale record fails with the command that writes it again; the slow suite composes every
job live both ways and checks the record too.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from conftest import CONF, ROOT
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
RECORD = Path(__file__).parent / "golden" / "hydra_compositions.json"
WRITE = "python tests/test_sweeper_differential.py --write"
ENV = {"ANNLAB_CORPUS_NAME": "from-env"}  # what ${oc.env:...} in the corpus reads


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
    for name, value in ENV.items():
        monkeypatch_module.setenv(name, value)
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


def _normal(text: str) -> str:
    """`text` without this checkout's folder (Hydra's node holds its search path's folders)."""
    return text.replace(str(ROOT), "<root>")


def digest(result: tuple[str, Any]) -> list[str]:
    """A job's outcome as stored: ["ok", digest of its config, node and resolved form] or
    ["refused", Hydra's reason], neither holding the checkout's folder or the working folder."""
    kind, value = result
    if kind == "refused":
        return [kind, _normal(value)]
    cfg, node, resolved = value
    node = {**node, "runtime": {**node["runtime"], "cwd": "<cwd>"}}
    text = _normal(json.dumps([cfg, node, resolved], sort_keys=True, default=repr))
    return [kind, hashlib.sha256(text.encode()).hexdigest()[:20]]


def hydra_record(sides: Sides, cases: list[Case]) -> list[dict[str, Any]]:
    """Hydra's side of every command line: its jobs and each job's outcome, or the sweep's refusal."""
    record: list[dict[str, Any]] = []
    for case in cases:
        master, _ = sides.master(case)
        try:
            jobs = sides.hydras(master, case)
        except Exception as err:  # Hydra's sweeper refuses the sweep itself (interval)
            record.append({"line": str(case), "refused": f"{type(err).__name__}: {_normal(str(err))}"})
            continue
        record.append({"line": str(case), "jobs": [job for job, _ in jobs], "outcomes": [digest(o) for _, o in jobs]})
    return record


def sources() -> str:
    """A digest of the project's files Hydra's outcomes depend on: the configs, the studies,
    the corpus and this file's Hydra side."""
    files = sorted([*CONF.rglob("*.yaml"), *(ROOT / "experiments").rglob("*.yaml"),
                    Path(__file__).parent / "override_corpus.py", Path(__file__)])  # fmt: skip
    text = "".join(f"{f.relative_to(ROOT)}\n{f.read_text()}" for f in files)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def versions() -> dict[str, str]:
    """The versions of the code that composes: Hydra, its plugins' configs, OmegaConf."""
    names = ("hydra-core", "omegaconf", "hydra-joblib-launcher", "hydra-submitit-launcher", "antlr4-python3-runtime")
    return {name: metadata.version(name) for name in names}


def stored() -> dict[str, Any]:
    return json.loads(RECORD.read_text()) if RECORD.exists() else {}


def compare(sides: Sides, cases: list[Case], record: list[dict[str, Any]] | None = None) -> tuple[int, int]:
    """For every command line of `cases`: the same jobs, and for each job the same config and
    Hydra node (less the per-job override lists), or the same refusal with Hydra's reason, as
    Hydra's `record` of them (None: composed here and now). A job whose digest differs is
    composed by Hydra here, to name the first differing key. The number of jobs compared and of
    refusals."""
    record = record if record is not None else hydra_record(sides, cases)
    compared = refused = 0
    for case, theirs in zip(cases, record, strict=True):
        assert theirs["line"] == str(case), "the record is of another corpus"
        master, composer = sides.master(case)
        if "refused" in theirs:
            with pytest.raises(Exception) as ours:
                sides.annlabs(master, composer, case)
            assert f"{type(ours.value).__name__}: {_normal(str(ours.value))}" == theirs["refused"], case
            refused += 1
            continue
        mine = sides.annlabs(master, composer, case)
        assert [job for job, _ in mine] == theirs["jobs"], case
        for (job, result), hydra in zip(mine, theirs["outcomes"], strict=True):
            ours = digest(result)
            assert ours[0] == hydra[0], f"{case}: job {job}: annlab {ours[0]}, Hydra {hydra[0]}: {ours[1]} / {hydra[1]}"
            if ours[0] == "refused":
                assert ours[1] == hydra[1], f"{case}: job {job}"
                refused += 1
            elif ours[1] != hydra[1]:
                live = outcome(lambda job=job, master=master: sides.loader.load_sweep_config(master, job))
                if live == result:
                    pytest.fail(f"{case}: job {job}: Hydra composes it here as annlab does, not as recorded: {WRITE}")
                where = first_difference(result[1], live[1]) if live[0] == "ok" else f"Hydra refuses: {live[1]}"
                pytest.fail(f"{case}: job {job}: first difference at {where}")
            compared += 1
    return compared, refused


def test_annlabs_sweeper_composes_every_job_as_hydra_does(sides: Sides) -> None:
    """annlab's sweeper against Hydra's stored outcomes of the whole corpus (see the module's
    docstring). The project's files changed since the record: it fails, saying how to write the
    record again; other Hydra or OmegaConf versions than the record's: Hydra composes here."""
    record = stored()
    changed = f"conf/, experiments/ or the corpus changed since {RECORD.name} was written: {WRITE}"
    assert record.get("sources") == sources(), changed
    fresh = record["versions"] == versions()
    compared, refused = compare(sides, corpus(CASES), record["cases"] if fresh else None)
    assert compared >= CASES and refused >= 6


@pytest.mark.slow
@pytest.mark.parametrize("half", [0, 1])
def test_annlabs_sweeper_composes_every_job_as_hydra_composes_it_now(sides: Sides, half: int) -> None:
    """The same comparison with every job composed by Hydra now, which also checks the record."""
    cases = corpus(CASES)[half::2]
    record, kept = hydra_record(sides, cases), stored()
    if kept.get("sources") == sources() and kept["versions"] == versions():
        assert record == kept["cases"][half::2], f"{RECORD.name} is not what Hydra composes now: {WRITE}"
    compared, refused = compare(sides, cases, record)
    assert compared >= CASES / 2 and refused >= 3


def write() -> None:
    """Compose the corpus with Hydra and store its outcomes (the command in WRITE)."""
    os.environ.update(ENV)
    os.environ.setdefault("ANNLAB_ROOT", str(ROOT))
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        record = hydra_record(Sides(GlobalHydra.instance().config_loader()), corpus(CASES))
    head = json.dumps({"sources": sources(), "versions": versions()})[:-1]
    cases = ",\n".join(json.dumps(case) for case in record)  # a line a command line: diffs stay readable
    RECORD.write_text(f'{head}, "cases": [\n{cases}\n]}}\n')
    jobs = sum(len(c.get("jobs", ())) for c in record)
    print(f"{RECORD}: {len(record)} command lines, {jobs} jobs, Hydra {versions()['hydra-core']}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: {WRITE}")
    write()
