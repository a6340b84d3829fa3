"""Histogram bins of the per-layer distributions record: fixed per quantity and activation family."""

from __future__ import annotations

from functools import cache

# The quantities whose distributions a probe records, per layer: pre-activations, activations,
# back-propagated gradients dL/dz and weight gradients dL/dW.
QUANTITIES: tuple[str, ...] = ("z", "a", "grad_z", "grad_w")

# Bounded activations (hidden and output) get linear bins over their range; everything else
# gets signed log-magnitude bins, whose fixed decades hold a deep net's shrinking or growing
# signals at any depth. Fixed edges (never fitted to the data) make the histograms of one
# quantity and activation family from any runs overlayable and summable.
LINEAR_BINS = 40
BOUNDED: dict[str, tuple[float, float]] = {
    "sigmoid": (0.0, 1.0),
    "softmax": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "softsign": (-1.0, 1.0),
}
# Signed log10 magnitudes: decades [lo, hi) at PER_DECADE bins each, on both signs, and one
# central bin for |v| < 10**lo (it holds exact zeros: ReLU's dead side, a zero init's signals).
PER_DECADE = 4
VALUE_DECADES = (-8, 6)  # z and unbounded a
GRADIENT_DECADES = (-30, 4)  # dL/dz and dL/dW: a deep sigmoid net's input-side gradients are ~1e-25


def scheme(quantity: str, activation: str) -> str:
    """The bin scheme of `quantity` at a layer whose activation is `activation`, e.g.
    "linear:0:1:40" or "slog:-8:6:4"; `edges` turns it into the edges."""
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r}; known: {', '.join(QUANTITIES)}")
    if quantity == "a" and activation in BOUNDED:
        lo, hi = BOUNDED[activation]
        return f"linear:{lo:g}:{hi:g}:{LINEAR_BINS}"
    lo, hi = GRADIENT_DECADES if quantity.startswith("grad") else VALUE_DECADES
    return f"slog:{lo}:{hi}:{PER_DECADE}"


@cache
def edges(name: str) -> tuple[float, ...]:
    """The increasing bin edges of a scheme. Values v with edges[i-1] <= v < edges[i] fall in
    bin i; the top edge itself counts in the last bin; below edges[0] is the underflow bin
    and above edges[-1] the overflow bin (see the record's `counts`)."""
    kind, *args = name.split(":")
    if kind == "linear":
        lo, hi, n = float(args[0]), float(args[1]), int(args[2])
        return tuple(lo + (hi - lo) * i / n for i in range(n + 1))
    if kind == "slog":
        lo, hi, per = int(args[0]), int(args[1]), int(args[2])
        mags = [10 ** (lo + i / per) for i in range((hi - lo) * per + 1)]
        return (*(-m for m in reversed(mags)), *mags)
    raise ValueError(f"unknown bin scheme {name!r}")


def magnitude_edges(name: str) -> tuple[float, ...]:
    """For a signed log scheme: the edges of |v| (its positive half), for histograms whose two
    halves are folded together (annlab.read.layer_distributions.folded)."""
    e = edges(name)
    return e[len(e) // 2 :]
