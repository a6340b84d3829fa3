"""Benchmark: loading the user's own data file, as a job does (read, split, standardise).

    python benchmarks/bench_dataset_file.py [ROWS] [COLUMNS]

Writes a CSV and a parquet file of ROWS x COLUMNS (default 100,000 x 100, issue 23's size:
numeric features and a binary target) to a temporary folder, then times annlab's load of each
(annlab.train.data.load_split of dataset=file, cold: the file read, the target's task inferred,
the stratified split, the scaler), and a second split of the same file (a sweep's next job: the
table is read once per process). Prints the seconds and the target (at most 10 s for the CSV).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from annlab.config import DatasetConfig
from annlab.train.data import load_split


def main(rows: int, columns: int) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, columns)), columns=[f"x{i}" for i in range(columns)])
    frame["label"] = (frame.x0 + frame.x1 > 0).astype(int)
    with tempfile.TemporaryDirectory() as folder:
        for suffix in ("csv", "parquet"):
            path = Path(folder) / f"data.{suffix}"
            frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path)
            config = DatasetConfig(name="file", n_samples=None, val_fraction=0.2, path=str(path), target="label")
            tic = time.perf_counter()
            split = load_split(config, 0)
            cold = time.perf_counter() - tic
            tic = time.perf_counter()
            load_split(config, 1)
            warm = time.perf_counter() - tic
            size = path.stat().st_size / 1e6
            print(
                f"{suffix:>7}: {rows:,} x {columns} ({size:.0f} MB, task {split.task}): first load {cold:.2f} s, "
                f"next job's split {warm:.2f} s" + (" (target: at most 10 s)" if suffix == "csv" else "")
            )


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*(args + [100_000, 100][len(args) :]))
