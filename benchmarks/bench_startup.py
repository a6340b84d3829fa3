"""Benchmark: start-up of annlab's command lines against a bare Hydra app composing the same conf/.

    python benchmarks/bench_startup.py [ROUNDS]

Prints, for `python -m annlab.run --help`, `python -m annlab.study list` and four rejected
configs, the median wall time over ROUNDS (default 5) fresh processes divided by the median of a
bare Hydra app (`@hydra.main` over conf/, doing nothing, annlab's callback removed) timed in the
same run, interleaved with them (issue 12's target: at most 1.5).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BARE_APP = f"""
import hydra

@hydra.main(version_base="1.3", config_path={str(ROOT / "conf")!r}, config_name="config")
def main(cfg):
    pass

main()
"""
COMMANDS = {
    "run --help": ["-m", "annlab.run", "--help"],
    "study list": ["-m", "annlab.study", "list"],
    "model.depth=-1": ["-m", "annlab.run", "model.depth=-1"],
    "optimizer.lr=0": ["-m", "annlab.run", "optimizer.lr=0"],
    "model.depth=three": ["-m", "annlab.run", "model.depth=three"],
    "activation.name=swish": ["-m", "annlab.run", "activation.name=swish"],
}


def _time(args: list[str], cwd: str, check: bool = False) -> float:
    env = {**os.environ, "ANNLAB_ROOT": str(ROOT)}
    tic = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:  # a baseline that fails early would flatter every ratio
        sys.exit(f"the bare Hydra app failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - tic


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as cwd:
        bare = Path(cwd) / "bare_app.py"
        bare.write_text(BARE_APP)
        bare_args = [str(bare), f"hydra.run.dir={cwd}/out", "~hydra.callbacks.annlab"]
        times: dict[str, list[float]] = {"bare Hydra app": [], **{k: [] for k in COMMANDS}}
        for _ in range(rounds):  # interleaved: a slow spell of the machine hits all alike
            times["bare Hydra app"].append(_time(bare_args, cwd, check=True))
            for name, args in COMMANDS.items():
                times[name].append(_time(args, cwd))
    base = statistics.median(times["bare Hydra app"])
    print(f"start-up, median of {rounds} fresh processes, over a bare Hydra app composing conf/:")
    for name, values in times.items():
        print(f"  {name:<24} {statistics.median(values):6.2f} s   x{statistics.median(values) / base:.2f}")


if __name__ == "__main__":
    main()
