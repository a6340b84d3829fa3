"""The network as built, for network.parquet: each linear layer as the theory sees it, and the
correlation map's prediction for the probe batch."""

from __future__ import annotations

import json
import math

import pandas as pd
import torch

from annlab import record
from annlab.config import RunConfig
from annlab.net import spectrum
from annlab.net.correlation import predicted_example_cosine
from annlab.net.inits import weight_variance
from annlab.net.model import MLP
from annlab.net.theory import network_priors
from annlab.train.data import Split
from annlab.train.schedule import probe_indices


def probe_batch(cfg: RunConfig, data: Split) -> torch.Tensor:
    """The fixed probe batch's inputs, drawn as the training loop draws them (probe.batch=train:
    a training batch's worth, drawn the same way)."""
    rows = cfg.probe.batch_size or cfg.trainer.batch_size
    return data.x_train[probe_indices(len(data.x_train), rows, torch.Generator().manual_seed(cfg.seed))]


def network_table(cfg: RunConfig, model: MLP, data: Split) -> pd.DataFrame:
    """The network as built, a row per linear layer (the output layer last): what the read side
    needs to describe it and to draw the mean-field prediction, without building it again."""
    names = {id(module): name for name, module in model.named_children()}
    hidden = cfg.hidden_layers
    rows = []
    layers = zip(model.layers(), model.gains, model.bias_moments, strict=True)
    for i, (linear, gain, (bias_mean, sigma_b2)) in enumerate(layers, start=1):
        spec = hidden[i - 1] if i <= len(hidden) else None
        init = spec.init if spec is not None else cfg.output_init
        fan_in, fan_out = linear.in_features, linear.out_features
        # sigma_w^2 = Var(W) * fan_in: the gain the model chose (critical, calibrated), else the init's
        # formula; a user's init without one: measured on the drawn weights (and said so).
        sigma_w2 = gain**2 if gain is not None else weight_variance(init.name, init.params, fan_in, fan_out) * fan_in
        source = "gain" if gain is not None else "formula"
        if init.target is not None and init.variance is None:
            sigma_w2, source = float(linear.weight.detach().double().var()) * fan_in, "measured"
        rows.append(
            {
                "layer": i,
                "name": names[id(linear)],
                "fan_in": fan_in,
                "fan_out": fan_out,
                "activation": spec.activation.name if spec is not None else model.output_activation_name,
                "activation_params": json.dumps(spec.activation.params if spec is not None else {}, sort_keys=True),
                "init": init.name,
                "init_params": json.dumps(init.params, sort_keys=True),
                "bias": str(init.bias),
                "bias_std": init.bias_std,
                "sigma_w2": sigma_w2,
                "sigma_w2_from": source,
                "gain": math.sqrt(sigma_w2) if sigma_w2 >= 0 else float("nan"),  # NaN: the init is not random
                "sigma_b2": sigma_b2,
                "bias_mean": bias_mean,
                "input_second_moment": data.input_second_moment if i == 1 else float("nan"),
            }
        )
    table = pd.DataFrame(rows)
    # The correlation map's prediction for the probe batch (record.py: example_cosine_theory).
    x = probe_batch(cfg, data)
    table[record.COSINE_THEORY] = predicted_example_cosine(*network_priors(table), x)
    return table


def spectrum_table(cfg: RunConfig, model: MLP, data: Split, network: pd.DataFrame) -> pd.DataFrame | None:
    """probe.spectrum > 0: the singular values of the Jacobian dz_L / dz_1 at initialisation for
    that many probe examples (a row per example x singular value, float64), with the theory's
    mean and variance of s^2 for that example (Pennington et al. 2017) on its rows; None when off."""
    if not cfg.probe.spectrum or model.depth < 1:
        return None
    x = probe_batch(cfg, data)[: cfg.probe.spectrum]
    values = spectrum.singular_values(model.layers(), model.acts, x.to(next(model.parameters()).device)).cpu()
    layers, _ = network_priors(network)
    orthogonal = all("orthogonal" in h.init.name for h in cfg.hidden_layers[1:])
    # Each example's own prediction, from its own input second moment: an example's length sets
    # its q in every layer, and the spread depends on q (tanh's mu_2 / mu_1^2 grows with it).
    predicted = [spectrum.predicted_for(layers, float(row.double().square().mean()), orthogonal) for row in x]
    rows = [(i, k, float(s), *predicted[i]) for i, row in enumerate(values) for k, s in enumerate(row)]
    frame = pd.DataFrame(rows, columns=["example", "index", "singular_value", "predicted_mean", "predicted_variance"])
    return frame.assign(step=0)
