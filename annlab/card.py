"""The report card of one activation: `python -m annlab.card NAME_OR_IMPORT_PATH [--against ...] [--quick]`.

A fixed battery, built from the studies' own grids with the activation axis changed (vanishing
depth, gradients at depth 50, trainability at depth 20, tuned accuracy on four datasets), run
into MLflow experiments of its own (card-*: the studies' experiments and checks are untouched;
a re-run reuses every finished run, baselines included), then one table (printed, and the PDF's
first page) of each number beside the baselines', with the activation's picture after it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from annlab.names import ACTIVATION_NAMES
from annlab.record import resolve_uri

BASELINES = ("relu", "tanh", "gelu", "silu")


@dataclass(frozen=True)
class Part:
    """One battery part: a study's grid (its experiments file) with these overrides."""

    study: str
    full: tuple[str, ...]
    quick: tuple[str, ...]


PARTS = (
    Part(
        "vanishing_gradients",
        ("init=xavier,kaiming,critical",),
        ("init=xavier,kaiming,critical", "model.depth=2,4,8", "seed=0"),
    ),
    Part(
        "criticality",
        ("init=critical,calibrated", "model.depth=50"),
        ("init=critical,calibrated", "model.depth=50", "seed=0"),
    ),
    Part(
        "trainability",
        ("init=xavier,kaiming,critical",),
        ("init=xavier,kaiming,critical", "seed=0", "trainer.epochs=12"),
    ),
    Part("activation_ranking", (), ("optimizer.lr=0.03,0.1", "seed=0")),
)


def experiment(part: Part) -> str:
    return f"card-{part.study}"


def activation_args(activation: str) -> tuple[str, list[str]]:
    """The short name and the overrides that choose `activation` (a built-in or an import path)."""
    if activation in ACTIVATION_NAMES:
        return activation, [f"activation={activation}"]
    from annlab.parts import short_name

    return short_name(activation), ["activation=custom", f"activation._target_={activation}"]


def run_battery(activation: str, against: Sequence[str], quick: bool, extra: Sequence[str]) -> int:
    """Every part's sweep, for the activation and for the baselines (two sweeps where the
    activation is the user's own); the worst exit status."""
    _, chosen = activation_args(activation)
    codes = []
    for part in PARTS:
        grid = [
            f"+experiments={part.study}",
            *(part.quick if quick else part.full),
            f"tracking.experiment={experiment(part)}",
        ]
        sweeps = (
            [chosen, [f"activation={','.join(against)}"]]
            if chosen[0] == "activation=custom"
            else [[f"activation={','.join([activation, *against])}"]]
        )
        for choice in sweeps:
            print(f"annlab card: {part.study}: {' '.join(choice)}", flush=True)
            codes.append(subprocess.call([sys.executable, "-m", "annlab.run", "-m", *grid, *choice, *extra]))
    return max(codes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m annlab.card", description=__doc__.split("\n")[0])
    parser.add_argument("activation", help="a built-in name or an import path (module.Name)")
    parser.add_argument("--against", default=",".join(BASELINES), help=f"baselines (default {','.join(BASELINES)})")
    parser.add_argument("--quick", action="store_true", help="one seed and smaller grids (about 3 minutes)")
    parser.add_argument("--uri", help="tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)")
    parser.add_argument("--out", default="reports/out", help="the folder of the card's PDF")
    args, extra = parser.parse_known_args(argv)
    against = [a for a in args.against.split(",") if a]
    uri = resolve_uri(args.uri)
    if args.activation not in ACTIVATION_NAMES and "." not in args.activation:
        print(f"annlab card: unknown activation {args.activation!r}: give a built-in name "
              f"({', '.join(ACTIVATION_NAMES)}) or an import path (module.Name)", file=sys.stderr)  # fmt: skip
        return 2
    name, _ = activation_args(args.activation)
    try:
        if args.activation not in ACTIVATION_NAMES:  # the user's own: checked (and its short name registered) first
            from annlab.config import ActivationConfig
            from annlab.net.activations import build_activation

            build_activation(ActivationConfig(_target_=args.activation).name)
    except ValueError as err:  # pydantic's ValidationError is one: its first message says it
        said = err.errors()[0]["msg"].removeprefix("Value error, ") if hasattr(err, "errors") else str(err)
        print(f"annlab card: {said}; nothing was run", file=sys.stderr)
        return 2
    tic = time.perf_counter()
    code = run_battery(args.activation, against, args.quick, [*extra, f"tracking.uri={uri}"])
    if code == 2:
        return 2  # a bad input: said by the sweep, nothing ran
    from annlab.card_table import card_pdf

    path = Path(args.out) / f"card-{name}.pdf"
    table = card_pdf(name, against, uri, path, [experiment(p) for p in PARTS])
    print(table)
    print(f"annlab card: {name} in {time.perf_counter() - tic:.0f}s; wrote {path} (exit {code})")
    return code


if __name__ == "__main__":
    sys.exit(main())
