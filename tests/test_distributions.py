"""The distributions record: fixed-bin histograms and quantiles of z, a, dL/dz and dL/dW per layer."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import FAST
from test_training import trained

from annlab import record
from annlab.bins import edges, magnitude_edges, scheme
from annlab.config import RunConfig
from annlab.read.store import _artifact
from annlab.train.distributions import COLUMNS, QUANTILE_COLUMNS, QUANTILES, Distributions
from annlab.train.identity import config_hash
from annlab.train.job import run_job
from annlab.train.schedule import probe_steps


def frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(COLUMNS))


def test_counts_with_under_and_overflow_sum_to_the_values() -> None:
    values = torch.tensor([-2.0, 0.0, 0.5, 0.51, 1.0, 3.0, float("nan"), float("inf")])
    (row,) = [
        r for r in Distributions(["sigmoid"]).rows(0, [(None, values, values)], [values], [values]) if r[2] == "a"
    ]
    got = dict(zip(COLUMNS, row, strict=True))
    counts = got["counts"]
    assert got["bins"] == "linear:0:1:40" and len(counts) == len(edges("linear:0:1:40")) + 1
    assert got["n"] == 8 and got["nan"] == 1 and sum(counts) + got["nan"] == got["n"]
    assert counts[0] == 1  # -2: underflow
    assert counts[-1] == 2  # 3 and inf: overflow
    assert counts[1] == 1  # 0.0: the first bin
    assert counts[21] == 2  # 0.5 and 0.51 in [0.5, 0.525)
    assert counts[40] == 1  # 1.0, the top edge, in the last bin


def test_quantiles_of_a_diverged_layer_read_as_torch_quantile_and_warn_nothing() -> None:
    values = torch.tensor([float("-inf"), -1.0, float("inf"), float("inf"), float("inf")])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "invalid value in subtract" was printed in every test run
        (row,) = [
            r for r in Distributions(["relu"]).rows(0, [(None, values, values)], [values], [values]) if r[2] == "z"
        ]
    got = dict(zip(COLUMNS, row, strict=True))
    quantiles = [got[c] for c in QUANTILE_COLUMNS]
    expected = torch.quantile(values, torch.tensor(QUANTILES))
    np.testing.assert_array_equal(quantiles, expected.numpy())  # NaN where torch's is, the same values elsewhere


def test_every_recorded_row_counts_every_probe_value(config: Callable[..., RunConfig]) -> None:
    cfg = config(*FAST, "activation=relu", "init=kaiming", "model.depth=3", "probe.distributions=3")
    _, sink = trained(cfg)
    d = frame(sink.distributions)
    rows, width, depth = cfg.probe.batch_size, cfg.model.width, 3
    expected_n = {"z": rows * width, "a": rows * width, "grad_z": rows * width}
    hidden = d[d.layer <= depth]
    for quantity, n in expected_n.items():
        assert (hidden[hidden.quantity == quantity].n == n).all()
    assert (d[(d.quantity == "grad_w") & (d.layer == 2)].n == width * width).all()
    assert all(int(np.sum(c)) + nan == n for c, nan, n in zip(d.counts, d.nan, d.n, strict=True))
    steps = probe_steps(160, cfg)
    assert sorted(d.step.unique()) == [steps[0], steps[len(steps) // 2], steps[-1]]  # 3 evenly spaced, ends kept
    # ReLU's a: a point mass at exactly 0, in the central bin of the signed log scheme.
    a = d[(d.quantity == "a") & (d.layer == 1) & (d.step == 0)].iloc[0]
    centre = len(a.counts) // 2
    assert a.bins == "slog:-8:6:4" and 0.3 < a.counts[centre] / a.n < 0.7


def test_bins_are_the_same_across_runs_of_one_family(config: Callable[..., RunConfig]) -> None:
    runs = [
        frame(trained(config(*FAST, *o, "probe.distributions=2"))[1].distributions)
        for o in (
            ["activation=sigmoid", "init=xavier", "model.depth=2"],
            ["activation=sigmoid", "init=pytorch", "model.depth=4"],
        )
    ]
    for quantity in ("z", "a", "grad_z", "grad_w"):
        schemes = [set(r[(r.quantity == quantity) & (r.layer == 1)].bins) for r in runs]
        assert schemes[0] == schemes[1] and len(schemes[0]) == 1
    assert scheme("a", "sigmoid") == "linear:0:1:40" and scheme("a", "tanh") == scheme("a", "softsign")
    assert scheme("a", "relu") == scheme("a", "gelu") == scheme("z", "sigmoid")
    assert scheme("grad_z", "relu") == scheme("grad_w", "sigmoid")
    assert len(magnitude_edges("slog:-8:6:4")) == 14 * 4 + 1


def test_a_zero_network_gives_the_known_histograms(config: Callable[..., RunConfig]) -> None:
    """All-zero weights and biases: every z is 0, every sigmoid a is 0.5, no gradient reaches a
    hidden z (dL/da = W^T dL/dz = 0), and only the output layer's weights get a gradient."""
    cfg = config(
        *FAST, "activation=sigmoid", "init=zeros", "model.depth=3", "probe.distributions=1", "trainer.epochs=1"
    )
    d = frame(trained(cfg)[1].distributions)
    assert set(d.step) == {0}

    def counts(layer: int, quantity: str) -> np.ndarray:
        return np.asarray(d[(d.layer == layer) & (d.quantity == quantity)].iloc[0].counts)

    centre = len(edges("slog:-8:6:4")) // 2  # the |v| < 1e-8 bin of the values, with under/overflow at the ends
    for layer in (1, 2, 3):
        z = counts(layer, "z")
        assert z[centre] == z.sum() == 64 * 16
        a = counts(layer, "a")
        assert a[21] == a.sum()  # 0.5 in [0.5, 0.525)
        grad_z = counts(layer, "grad_z")
        assert grad_z[len(grad_z) // 2] == grad_z.sum()
        grad_w = counts(layer, "grad_w")
        assert grad_w[len(grad_w) // 2] == grad_w.sum()
    out = counts(4, "grad_w")
    assert out[len(out) // 2] < out.sum()  # dL/dW_out = dL/dz_out a^T with a = 0.5: not zero


def test_the_run_records_the_table_and_identity_ignores_it(config: Callable[..., RunConfig], store: str) -> None:
    cfg = config(*FAST, "activation=tanh", "init=xavier")
    result = run_job(cfg, uri=store)
    from mlflow.tracking import MlflowClient

    run = MlflowClient(store).get_run(result.run_id)
    d = pd.read_parquet(_artifact(run.info.artifact_uri, run.info.run_id, record.DISTRIBUTIONS_TABLE, store))
    assert list(d.columns) == list(COLUMNS)
    assert sorted(d.step.unique()) == probe_steps(160, cfg)  # every probe step: fewer than 5 here
    assert set(d.quantity) == {"z", "a", "grad_z", "grad_w"} and d.layer.nunique() == cfg.depth + 1
    none = run_job(config(*FAST, "activation=tanh", "init=xavier", "probe.distributions=0", "resume=false"), uri=store)
    artifacts = [f.path for f in MlflowClient(store).list_artifacts(none.run_id)]
    assert record.DISTRIBUTIONS_TABLE not in artifacts and record.LAYER_TABLE in artifacts
    assert config_hash(config("probe.distributions=0")) == config_hash(config())


@pytest.mark.parametrize("batch", ["fixed", "train"])
def test_recording_distributions_does_not_change_training(config: Callable[..., RunConfig], batch: str) -> None:
    mode = ["probe=train", "probe.batch_size=null"] if batch == "train" else []
    with_, without = (trained(config(*FAST, *mode, f"probe.distributions={k}"))[0] for k in (5, 0))
    for p1, p2 in zip(with_.parameters(), without.parameters(), strict=True):
        assert torch.equal(p1, p2)


def test_quantiles_are_torch_quantiles_and_the_magnitude_median() -> None:
    torch.manual_seed(0)
    values = torch.randn(64, 33) * 3
    (row,) = [r for r in Distributions(["relu"]).rows(0, [(None, values, values)], [values], [values]) if r[2] == "z"]
    got = dict(zip(COLUMNS, row, strict=True))
    expected = torch.quantile(values.reshape(-1), torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95])).tolist()
    assert [got[c] for c in ("q05", "q25", "q50", "q75", "q95")] == pytest.approx(expected, rel=1e-6)
    assert got["abs_q50"] == pytest.approx(float(values.abs().median()))
