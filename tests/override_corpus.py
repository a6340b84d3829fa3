"""A seeded corpus of command lines for the sweeper's differential test: every override form Hydra takes."""

from __future__ import annotations

import random
from dataclasses import dataclass

LAYERS = [
    "model.layers=[{width: 8, activation: {name: tanh}, init: {name: xavier}}]",
    "model.layers=[{width:4,activation:{name:relu,params:{}},init:{name:kaiming,params:{},bias:0.1}},"
    "{width:3,activation:{name:sigmoid},init:{name:default}}]",
    "model.layers=[{width: 5, activation: {name: elu}, init: ${init}}]",
]
# The model axis: every option (aliases too), a per-layer model's mandatory `???` layers set or not.
MODELS = [
    [],
    ["model=mlp", "model.depth=2"],
    ["model=per_layer", LAYERS[0], "model.name=mine"],
    ["model=per_layer", LAYERS[1]],
    ["model=per_layer", LAYERS[2], "model.name='a b'"],
    ["model=per_layer"],  # layers stay ??? (Hydra composes it; annlab's check would refuse it)
    ["model=tutorial_example"],
    ["model=seed_example", "dataset=seed_random"],
]
GROUPS = [
    ["activation=tanh"],
    ["activation=leaky_relu", "activation.params.negative_slope=0.2"],
    ["init=xavier"],
    ["init=default"],
    ["init=critical_orthogonal", "init.bias=0.5"],
    ["dataset=iris"],
    ["dataset=regression"],
    ["dataset=digits", "dataset.val_fraction=0.3"],
    ["optimizer=adam"],
    ["probe=train"],
    ["activation={name: gelu, params: {}}"],  # a dict on a group's key: Hydra applies it as a value
]
VALUES = [
    ["model.depth=5"],
    ["model.width=7", "seed=3"],
    ["optimizer.lr=1e-3"],
    ["+extra.key=3"],
    ["+extra={a: 1, b: [1, 2]}"],
    ["++dataset.params.foo=1"],
    ["++seed=4"],
    ["~dataset.params"],
    ["~threads"],
    ["+init.params.gain=2.5"],
    ["+note=${init}"],
    ["+note=${model.width}"],
    ["tracking.experiment=${oc.env:ANNLAB_CORPUS_NAME,anon}"],
    ["tracking.experiment='a, b c'"],
    ['+note="x, y"'],
    ["+note=a\\,b\\ c"],
    ["+note='it\\'s'"],
    ["dataset.params={noise: 0.3, random_state: 1}"],
    ["+tags=[a, 'b, c']"],
    ["trainer.epochs=2", "probe.every=3"],
]
SWEEPS = [
    ["seed=0,1"],
    ["model.depth=range(1,4)"],
    ["optimizer.lr=choice(0.1,0.01)"],
    ["activation=glob(s*,exclude=[selu,silu,softplus])"],
    ["init=xavier,kaiming"],
    ["tracking.experiment='a,b','c d'"],
    ["dataset=moons,iris"],
]
# Each study with all but one two-valued axis of its own hydra.sweeper.params overridden on the
# command line (values from the study file, the command line over them).
STUDIES = [
    ["+experiments=zero_bias", "activation=relu", "model.depth=2", "seed=0"],
    ["+experiments=criticality", "activation=tanh", "init=critical", "seed=0"],
    ["+experiments=deep_relu_he2015", "seed=1"],
    ["+experiments=vanishing_gradients", "activation=tanh", "init=xavier", "model.depth=2", "seed=0,1"],
]
# What Hydra refuses, and so must annlab, for the same reason.
REFUSED = [
    ["model.widht=8"],
    ["+seed=3"],
    ["~nothing.here"],
    ["activation=swish"],
    ["seed=interval(0,1)"],
    ["model=no_such_model"],
    ["model.depth=1", "hydra/launcher=nope"],
]
HYDRA = [["hydra.job.chdir=false"], ["hydra/launcher=joblib"], ["++hydra.sweeper.params.seed='5,6'"]]


@dataclass(frozen=True)
class Case:
    """One command line: its Hydra overrides (the master config's) and its task overrides."""

    hydra: tuple[str, ...]
    task: tuple[str, ...]

    def __str__(self) -> str:
        return " ".join((*self.hydra, *self.task))


def _keys(lines: list[str]) -> set[str]:
    return {line.split("=")[0].lstrip("+~") for line in lines}


def _line(rng: random.Random, parts: list[list[str]]) -> tuple[str, ...]:
    """The parts' overrides, a part whose key is already given left out (Hydra would let the
    last win; the expansion is tested on the studies' params instead)."""
    task: list[str] = []
    for part in parts:
        if not _keys(part) & _keys(task):
            task += part
    return tuple(task)


def corpus(n: int, seed: int = 0) -> list[Case]:
    """`n` command lines: first each sweep form, study, refusal and Hydra override at least once
    (with a random model and values), then random single jobs of models, groups and values (one
    Hydra composition costs ~0.1 s, so most lines are one job)."""
    rng = random.Random(seed)

    def job() -> list[list[str]]:
        groups = rng.sample(GROUPS, 1) if rng.random() < 0.2 else []  # each new choice is a composition of annlab's
        return [rng.choice(MODELS), *groups, *rng.sample(VALUES, rng.randint(1, 3))]

    cases = [Case((), _line(rng, [*job(), sweep])) for sweep in SWEEPS]
    cases += [Case((), _line(rng, [study, rng.choice(VALUES)])) for study in STUDIES]
    cases += [Case((), _line(rng, [refused])) for refused in REFUSED]
    cases += [Case(tuple(hydra), _line(rng, job())) for hydra in HYDRA]
    while len(cases) < n:
        cases.append(Case((), _line(rng, job())))
    return cases[:n]
