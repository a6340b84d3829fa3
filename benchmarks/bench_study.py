"""Benchmark: a whole study's sweep at an older commit and at this checkout, back to back.

    python benchmarks/bench_study.py [--base ea70fd8] [--study vanishing_gradients]

Runs `python -m annlab.run -m +experiments=STUDY` twice, each in a fresh folder with a fresh
SQLite store: first with the code of commit BASE (a git worktree put first on PYTHONPATH, its own
conf/ and plugins), then with this checkout's. Prints both wall times and the speed-up (issue
12's target for vanishing_gradients against ea70fd8: at least 3x). Machines of this kind differ
2x from one session to the next, so only the ratio of one run means anything.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def timed_sweep(
    code: Path, study: str | None, extra: Sequence[str] = (), read: Callable[[str], T] | None = None
) -> tuple[float, str, T | None]:
    """Wall time of the study's sweep (None: a sweep of `extra` alone; else with `extra`
    overrides) with the annlab package found at `code`, its summary line, and what `read`
    returns given the sweep's store URI (read before the sweep's temp folder goes)."""
    env = {**os.environ, "PYTHONPATH": str(code), "ANNLAB_ROOT": str(code)}
    env.pop("MLFLOW_TRACKING_URI", None)
    with tempfile.TemporaryDirectory() as folder:
        tic = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "annlab.run", "-m", *([f"+experiments={study}"] if study else []), *extra],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - tic
        summary = next((line for line in proc.stdout.splitlines() if "sweep summary" in line), "")
        if proc.returncode != 0 or not summary:
            sys.exit(f"the sweep at {code} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        found = read(f"sqlite:///{folder}/mlflow.db") if read else None
    return wall, summary, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="ea70fd8", help="the older commit (default: ea70fd8)")
    parser.add_argument("--study", default="vanishing_gradients", help="the study (default: vanishing_gradients)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        worktree = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.base], check=True)
        try:
            old, old_summary, _ = timed_sweep(worktree, args.study)
            print(f"{args.base}: {old:6.1f} s  ({old_summary.removeprefix('annlab: ')})", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=True)
    new, new_summary, _ = timed_sweep(ROOT, args.study)
    print(f"this checkout: {new:6.1f} s  ({new_summary.removeprefix('annlab: ')})")
    print(f"{args.study}: {old / new:.2f}x faster than {args.base}")


if __name__ == "__main__":
    main()
