"""Bring your own activation: by import path (`_target_`), through the model, the theory, the
probes, the record and the report, with bad ones refused before any job runs."""

from __future__ import annotations

import math
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FAST, Result

from annlab.config import ActivationConfig, ConfigError, parse_config
from annlab.net.activations import SATURATED_Z, build_activation
from annlab.net.theory import critical_gains
from annlab.parts import fingerprint, import_object
from annlab.train.identity import identity
from annlab.train.job import run_job

USER = Path(__file__).parent / "userparts"
MYTANH = ["activation=custom", "activation._target_=torch.tanh", "activation.name=mytanh"]


def test_a_users_tanh_is_annlabs_tanh(composed: Callable[..., dict], tmp_path: Path) -> None:
    """torch.tanh by import path trains bit for bit as activation=tanh: every metric and probe value."""
    from annlab.read.store import load

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for overrides in (["activation=tanh"], MYTANH):
        run_job(parse_config(composed([*FAST, "init=critical", "probe.distributions=2", *overrides])), uri=uri)
    frames = load(uri)
    runs = dict(zip(frames.runs.activation, frames.runs.run_id, strict=True))
    by_act = {act: frames.layers[frames.layers.run_id == rid] for act, rid in runs.items()}
    keys = ["layer", "step", "stat"]
    ours, theirs = (by_act[a].sort_values(keys).reset_index(drop=True) for a in ("mytanh", "tanh"))
    assert len(ours) > 100 and ours[keys].equals(theirs[keys])
    assert np.array_equal(ours.value.to_numpy(), theirs.value.to_numpy(), equal_nan=True)
    assert {"saturated_frac"} <= set(ours.stat)
    epochs = {a: frames.epochs[frames.epochs.run_id == r].sort_values(["epoch", "metric"]) for a, r in runs.items()}
    assert np.array_equal(epochs["mytanh"].value.to_numpy(), epochs["tanh"].value.to_numpy())
    assert critical_gains([("mytanh", None)] * 3, 1.0) == critical_gains([("tanh", None)] * 3, 1.0)


def test_params_and_identity_name_the_part_and_what_it_ran(composed: Callable[..., dict]) -> None:
    cfg = parse_config(composed(MYTANH))
    assert cfg.activation is not None and (cfg.activation.name, cfg.activation.target) == ("mytanh", "torch.tanh")
    ident = identity(cfg)["activation"]
    assert ident["target"] == "torch.tanh" and ident["fingerprint"].startswith("torch==")
    assert "target" not in identity(parse_config(composed(["activation=tanh"])))["activation"]  # built-ins unchanged


def test_editing_the_part_changes_the_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "myedit.py"
    source.write_text("import torch\ndef act(x):\n    return torch.tanh(x)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = fingerprint("myedit.act")
    source.write_text("import torch\ndef act(x):\n    return torch.tanh(2 * x)\n")
    fingerprint.cache_clear()
    assert fingerprint("myedit.act") != before and before.startswith("sha256:")


def test_a_users_init_is_annlabs_init_and_its_variance_is_formula_or_measured(composed: Callable[..., dict]) -> None:
    """torch's kaiming_normal_ by import path draws the weights init=kaiming draws under one seed;
    the theory takes Var(W) from the user's formula, or measures it on the drawn weights."""
    from annlab.train.data import load_split
    from annlab.train.network import network_table
    from annlab.train.setup import build_model, seed_everything

    def built(*overrides: str) -> tuple:
        cfg = parse_config(composed([*FAST, "model.width=400", *overrides]))
        seed_everything(cfg.seed)
        data = load_split(cfg.dataset, cfg.seed)
        model = build_model(cfg, data)
        return model, network_table(cfg, model, data)

    user = ["init=custom", "init._target_=torch.nn.init.kaiming_normal_", "+init.params.nonlinearity=relu"]
    ours, table = built(*user, "init.name=myhe")
    theirs, builtin = built("init=kaiming")
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters(), strict=True))
    assert list(table.sigma_w2_from) == ["measured"] * 4 and list(builtin.sigma_w2_from) == ["formula"] * 4
    assert table.sigma_w2.iloc[1] == pytest.approx(2.0, rel=0.02)  # He's 2, measured on 400 x 400 weights
    _, given = built(*user, "init.name=myhe2", "init.variance=2 / fan_in")
    assert list(given.sigma_w2_from) == ["formula"] * 4 and given.sigma_w2.iloc[1] == pytest.approx(2.0, rel=1e-12)


def test_bad_user_inits_are_refused(composed: Callable[..., dict]) -> None:
    user = ["init=custom", "init._target_=torch.nn.init.kaiming_normal_"]
    with pytest.raises(ConfigError, match="uses foo: it may use fan_in, fan_out and the params"):
        parse_config(composed([*user, "init.name=myhe3", "init.variance=2 / foo"]))
    with pytest.raises(ConfigError, match="the short name 'xavier' is a built-in init's"):
        parse_config(composed([*user, "init.name=xavier"]))
    with pytest.raises(ConfigError, match=r"init=custom needs init\._target_=module\.Name"):
        parse_config(composed(["init=custom"]))
    with pytest.raises(ConfigError, match="variance='1' would be ignored"):
        parse_config(composed(["init=xavier", "+init.variance=1"]))


def test_mishs_critical_gains_agree_with_an_independent_quadrature() -> None:
    ActivationConfig(_target_="userparts.acts.Mish")
    z, w = np.polynomial.hermite_e.hermegauss(200)
    w = w / w.sum()

    def mish(x: np.ndarray) -> np.ndarray:
        return x * np.tanh(np.log1p(np.exp(x)))

    q, gains = 1.0, [1.0]  # standardised inputs: layer 1's q is 1
    for _ in range(2):
        x = math.sqrt(q) * z
        slope = (mish(x + 1e-5) - mish(x - 1e-5)) / 2e-5
        gains.append(1 / math.sqrt(float(w @ slope**2)))
        q = gains[-1] ** 2 * float(w @ mish(x) ** 2)
    assert critical_gains([("mish", None)] * 2, 1.0) == pytest.approx(gains, rel=1e-4)


def test_a_bounded_activation_gets_a_saturation_rule_and_an_unbounded_one_none() -> None:
    from annlab import bins

    ActivationConfig(_target_="userparts.acts.bump")
    ActivationConfig(_target_="userparts.acts.Mish")
    build_activation("bump"), build_activation("mish")
    assert "bump" in SATURATED_Z and "mish" not in SATURATED_Z
    assert bins.scheme("a", "bump") == "linear:-0.606531:0.606531:40"  # f's range on the grid
    assert bins.scheme("a", "mish").startswith("slog:")


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("userparts.acts.rowsum", "is not elementwise"),
        ("userparts.acts.halve", "changes the shape of its input"),
        ("userparts.acts.float32_only", "fails on a float32 or float64 tensor: TypeError: float32 only"),
        ("userparts.acts.blows_up", "not finite in float64"),
        ("userparts.acts.NOT_CALLABLE", "neither an nn.Module class nor a function"),
        ("userparts.acts.missing", "has no attribute 'missing'"),
        ("nosuchmodule.Act", "module 'nosuchmodule' does not import here (ModuleNotFoundError"),
    ],
)
def test_bad_activations_are_refused_saying_why(target: str, said: str) -> None:
    act = ActivationConfig(_target_=target)
    with pytest.raises(ValueError, match=None) as err:
        build_activation(act.name)
    assert said in str(err.value) and target in str(err.value)


def test_names_that_clash_are_refused(composed: Callable[..., dict]) -> None:
    with pytest.raises(ConfigError, match="the short name 'tanh' is a built-in activation's"):
        parse_config(composed(["activation=custom", "activation._target_=torch.tanh"]))
    ActivationConfig(_target_="userparts.acts.ScaledTanh", name="scaled")
    with pytest.raises(ValueError, match="two user activations share the short name 'scaled'"):
        ActivationConfig(_target_="userparts.acts.bump", name="scaled")
    with pytest.raises(ValueError, match="is a function, used as it is: params"):
        build_activation(ActivationConfig(_target_="userparts.acts.bump", name="bump", params={"a": 1}).name, {"a": 1})


@pytest.mark.slow  # 6 jobs and a full report: ~25 s
def test_a_sweep_of_user_activations_beside_builtins(
    tmp_path: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's folder holds their package and their config folder; a sweep through annlab's
    own sweeper mixes a config-file activation, an inline one and a built-in, trains the learnable
    one's parameter, and the report draws every page it has data for."""
    from annlab.read.pages import FIGURES, Options
    from annlab.read.report import build_report
    from annlab.read.store import load

    shutil.copytree(USER, tmp_path / "userparts")
    conf = tmp_path / "myconf" / "activation"
    conf.mkdir(parents=True)
    (conf / "scaled.yaml").write_text("_target_: userparts.acts.ScaledTanh\nname: scaled\nparams:\n  slope: 1.5\n")
    monkeypatch.delitem(sys.modules, "userparts", raising=False)
    import_object.cache_clear()
    tiny = [*FAST, "probe.distributions=2", "model.depth=3"]
    own = ["--config-dir", str(tmp_path / "myconf"), "activation=relu,scaled", "init=xavier,critical"]
    res = cli(["-m", *own, *tiny], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    inline = ["activation=custom", "activation._target_=userparts.acts.Mish,userparts.acts.bump"]
    res = cli(["-m", *inline, *tiny], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    frames = load(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert sorted(frames.usable.activation.unique()) == ["bump", "mish", "relu", "scaled"]
    assert frames.layers[(frames.layers.stat == "act_param_mean")].value.nunique() > 1  # the slope learned
    result = build_report(frames, "annlab", tmp_path / "r.pdf", list(FIGURES), Options())
    assert {"activations", "gradient_flow", "correlation_map", "activation_health", "gain_map"} <= set(result.drawn)
    assert "activation_distributions" in result.drawn, result.skipped
    # Where the user's module does not import (another machine), only the pages that build the
    # activation are left out, each saying why.
    shutil.rmtree(tmp_path / "userparts")
    for module in [m for m in sys.modules if m.startswith("userparts")]:
        monkeypatch.delitem(sys.modules, module)
    import_object.cache_clear()
    monkeypatch.setattr(sys, "path", [p for p in sys.path if not p.endswith("tests")])
    result = build_report(frames, "annlab", tmp_path / "r2.pdf", list(FIGURES), Options())
    assert "does not import here" in result.skipped["activations"]
    assert {"outcomes", "training_curves", "symmetry"} <= set(result.drawn)


def test_a_bad_user_activation_stops_the_sweep_before_any_run(tmp_path: Path, cli: Callable[..., Result]) -> None:
    shutil.copytree(USER, tmp_path / "userparts")
    res = cli(["-m", "activation=relu,custom", "activation._target_=userparts.acts.rowsum", *FAST], tmp_path)
    assert res.returncode != 0
    res = cli(["-m", "activation=custom", "activation._target_=userparts.acts.rowsum", *FAST], tmp_path)
    assert res.returncode == 2 and "is not elementwise" in res.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_the_theory_breaks_where_phi_prime_changes_sign() -> None:
    """criticality's rule for reporting `critical` only: among the built-ins, GELU and SiLU."""
    from annlab.names import ACTIVATION_NAMES
    from annlab.studies.criticality import theory_breaks

    assert [a for a in ACTIVATION_NAMES if theory_breaks(a)] == ["gelu", "silu"]


@pytest.mark.slow  # 60 step-0 jobs to depth 50: ~2 min
def test_the_criticality_check_reads_user_activations(
    tmp_path: Path, cli: Callable[..., Result], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test package's activations beside the check's built-ins: calibrated keeps Mish's and
    bump's gradients at depth 50; both derivatives change sign, so critical is only reported."""
    from annlab.studies.cli import check_study

    shutil.copytree(USER, tmp_path / "userparts")
    grid = ["+experiments=criticality", "init=xavier,critical,calibrated", "model.depth=10,50", "seed=0,1"]
    assert cli(["-m", *grid, "activation=sigmoid,tanh,relu"], tmp_path).returncode == 0
    users = ["activation=custom", "activation._target_=userparts.acts.Mish,userparts.acts.bump"]
    assert cli(["-m", *grid, *users], tmp_path).returncode == 0
    monkeypatch.chdir(tmp_path)
    assert check_study("criticality", f"sqlite:///{tmp_path / 'mlflow.db'}") == 0
    out = capsys.readouterr().out
    for act in ("mish", "bump"):
        assert f"ok  {act} at depth 50: log10 first/output" in out
        assert f"{act} + critical" in out and "theory's assumptions break: phi' changes sign" in out


def test_a_per_layer_model_with_a_users_activation_and_init(
    composed: Callable[..., dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Layer 1 a user's activation, layer 2 a user's init: the model trains, the record names both,
    the theory takes layer 2's variance measured on its weights, and a fresh reader (no part
    registered) draws the pages that need the user's phi."""
    from annlab import parts
    from annlab.read.pages import FIGURES, Options
    from annlab.read.report import build_report
    from annlab.read.store import load, load_networks

    layers = (
        "model.layers=[{width: 16, activation: {_target_: userparts.acts.Mish, name: mish}, init: {name: xavier}},"
        " {width: 16, activation: {name: tanh}, init: {_target_: torch.nn.init.xavier_normal_, name: myxav}}]"
    )
    overrides = [*FAST, "model=per_layer", layers, "model.name=mine", "probe.distributions=0"]
    cfg = parse_config(composed([o for o in overrides if not o.startswith("model.width")]))
    assert [layer.activation.name for layer in cfg.hidden_layers] == ["mish", "tanh"]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_job(cfg, uri=uri)
    for name in list(parts.USER_ACTIVATIONS):  # a new process reading the store: nothing registered
        monkeypatch.delitem(parts.USER_ACTIVATIONS, name)
    frames = load(uri)
    assert parts.USER_ACTIVATIONS == {"mish": "userparts.acts.Mish"}
    (run,) = frames.runs.itertuples()
    assert (run.status, run.activation, run.init) == ("FINISHED", "mish,tanh", "xavier,myxav")
    network = load_networks(frames.runs, uri).sort_values("layer")
    assert list(network.sigma_w2_from)[:2] == ["formula", "measured"]
    assert network.sigma_w2.iloc[1] == pytest.approx(1.0, rel=0.5)  # Glorot's 2/(16+16) x fan_in 16
    pages = ["activations", "gradient_flow", "correlation_map"]
    result = build_report(frames, "annlab", tmp_path / "r.pdf", pages, Options())
    assert set(result.drawn) == set(pages), result.skipped
    assert set(pages) <= set(FIGURES)
