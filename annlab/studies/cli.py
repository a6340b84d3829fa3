"""The studies' command line: `python -m annlab.study list | run NAME [overrides] | check NAME`."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence

from annlab.record import resolve_uri
from annlab.studies import STUDIES
from annlab.studies.common import MissingData


def run_study(name: str, extra: Sequence[str]) -> int:
    """Run the study's grid through the Hydra entry point, as a user would (then each of its
    parts' grids, with the same overrides); the worst exit status of them."""
    tic = time.perf_counter()
    codes = []
    for grid in (name, *STUDIES[name].parts):
        codes.append(subprocess.call([sys.executable, "-m", "annlab.run", "-m", f"+experiments={grid}", *extra]))
    code = max(codes)
    print(f"annlab study: {name} ran in {time.perf_counter() - tic:.0f}s (exit {code})")
    return code


def check_study(name: str, uri: str) -> int:
    """Print the measured figures beside the expectation; 0 holds, 1 does not, 2 data missing."""
    from annlab.read import analysis
    from annlab.read.store import StoreError, load

    try:
        frames = load(uri, [name])
        verdict = STUDIES[name].check(frames)
    except (StoreError, MissingData) as err:
        print(f"annlab study: {name}: data missing: {err} (run: python -m annlab.study run {name})", file=sys.stderr)
        return 2
    print(f"Study {name}: {STUDIES[name].finding}")
    counts = analysis.status_counts(frames.runs)
    print("runs: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    print(verdict.table())
    print(f"finding {'HOLDS' if verdict.holds else 'DOES NOT HOLD'}")
    return 0 if verdict.holds else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m annlab.study", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the studies and their findings")
    run = sub.add_parser("run", help="run a study's grid (extra Hydra overrides may follow)")
    run.add_argument("name", choices=sorted(STUDIES))
    check = sub.add_parser("check", help="check a study's finding")
    check.add_argument("name", choices=sorted(STUDIES))
    check.add_argument("--uri", help="tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)")
    args, extra = parser.parse_known_args(argv)
    if args.command == "list":
        for name, study in STUDIES.items():
            print(f"{name}: {study.finding}")
        return 0
    if args.command == "run":
        return run_study(args.name, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return check_study(args.name, resolve_uri(args.uri))


if __name__ == "__main__":
    sys.exit(main())
