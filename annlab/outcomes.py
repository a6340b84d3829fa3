"""A sweep's job outcomes: the results file each job appends one line to, and the end-of-sweep summary."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

# Set by the sweep before its first job; jobs (in this process, joblib workers or cluster jobs,
# which inherit the environment) read them.
TOTAL_ENV = "ANNLAB_SWEEP_TOTAL"
SWEEP_ENV = "ANNLAB_SWEEP"
SWEEP_ID_ENV = "ANNLAB_SWEEP_ID"
SWEEP_START_ENV = "ANNLAB_SWEEP_START"  # when its jobs began (time.time()), for the time-left estimate

# The order of the summary line; KILLED, FAILED and jobs that never reported make the sweep fail.
ORDER = ("FINISHED", "DIVERGED", "FAILED", "KILLED", "SKIPPED")


def results_file(sweep_dir: str) -> Path:
    """This sweep's results file in its folder: one line per job."""
    return Path(sweep_dir) / f"annlab_jobs-{os.environ.get(SWEEP_ID_ENV, 'sweep')}.jsonl"


def append(sweep_dir: str, outcome: dict[str, str]) -> None:
    """Append one job's outcome (one line, one write: safe from parallel jobs)."""
    path = results_file(sweep_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(outcome) + "\n")


def count(sweep_dir: str) -> int:
    """How many jobs have reported so far (lines of the results file, not parsed)."""
    path = results_file(sweep_dir)
    with path.open("rb") if path.exists() else open(os.devnull, "rb") as f:
        return sum(1 for _ in f)


def read(sweep_dir: str) -> list[dict[str, str]]:
    path = results_file(sweep_dir)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def sweep_summary(outcomes: list[dict[str, str]], total: int) -> tuple[str, bool]:
    """The end-of-sweep lines, and whether any job failed, was killed or never reported."""
    counts = Counter(o["status"] for o in outcomes)
    parts = [f"{counts.get(k, 0)} {k.lower()}" for k in ORDER]
    missing = total - len(outcomes)
    if missing > 0:
        parts.append(f"{missing} not run")
    lines = [f"annlab: sweep summary: {total} jobs: " + ", ".join(parts)]
    if counts.get("SKIPPED"):
        lines.append(
            f"annlab: skipped {counts['SKIPPED']} jobs already FINISHED in the store (resume=false reruns them)"
        )
    for o in outcomes:
        if o["status"] in ("FAILED", "DIVERGED", "KILLED"):
            line = f"annlab:   {o['status']}: {o['name']}" + (f" ({o['error']})" if o.get("error") else "")
            lines.append(line + (f"; log: {o['log']}" if o.get("log") else ""))
    return "\n".join(lines), bool(counts.get("FAILED") or counts.get("KILLED")) or missing > 0
