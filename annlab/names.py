"""The names a config may use, without importing torch or scikit-learn (for a fast start-up)."""

from __future__ import annotations

from annlab.record import RENAMED

# annlab.net.activations.ACTIVATIONS and annlab.net.inits.INITS are keyed by exactly these (they
# check it when imported).
ACTIVATION_NAMES: tuple[str, ...] = (
    "sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "selu", "gelu", "silu", "softplus", "softsign",
    "identity",
)  # fmt: skip
INIT_REGISTRY_NAMES: tuple[str, ...] = (
    "zeros", "ones", "constant", "uniform", "normal", "xavier_normal", "xavier_uniform", "kaiming_normal",
    "kaiming_uniform", "orthogonal", "lecun_normal", "pytorch", "critical", "critical_orthogonal", "calibrated",
    "calibrated_orthogonal", "critical_line", "critical_line_orthogonal",
)  # fmt: skip
# The inits that put a net on its critical line at a chosen q* (annlab.net.theory.critical_line).
CRITICAL_LINE: tuple[str, ...] = ("critical_line", "critical_line_orthogonal")
# The seed says "xavier" and "kaiming" and means the normal variants; "default" is the name the
# first release gave PyTorch's own init (it is not annlab's default, which is kaiming).
INIT_ALIASES: dict[str, str] = {"xavier": "xavier_normal", "kaiming": "kaiming_normal", **RENAMED["init"]}
INIT_NAMES: tuple[str, ...] = (*INIT_REGISTRY_NAMES, *INIT_ALIASES)
