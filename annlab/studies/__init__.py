"""The studies of experiments/, one module each: its finding, its thresholds and its check."""

from __future__ import annotations

from annlab.studies import (
    activation_cost,
    activation_ranking,
    convergence_speed,
    criticality,
    dead_relu,
    deep_relu_he2015,
    depth_scales,
    dynamical_isometry,
    init_matching,
    no_nonlinearity,
    output_layers,
    relu_sparsity,
    saturation_glorot2010,
    seed_example,
    symmetry_breaking,
    trainability,
    vanishing_gradients,
    zero_bias,
)
from annlab.studies.common import Study

STUDIES: dict[str, Study] = {
    module.STUDY.name: module.STUDY
    for module in (
        vanishing_gradients,
        symmetry_breaking,
        dead_relu,
        init_matching,
        deep_relu_he2015,
        saturation_glorot2010,
        output_layers,
        seed_example,
        criticality,
        trainability,
        dynamical_isometry,
        depth_scales,
        convergence_speed,
        activation_cost,
        relu_sparsity,
        activation_ranking,
        zero_bias,
        no_nonlinearity,
    )
}
