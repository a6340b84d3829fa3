"""The user's own data: a CSV or parquet file with a target column, or a function returning (X, y)."""

from __future__ import annotations

import inspect
import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from annlab.parts import import_object

if TYPE_CHECKING:
    import pandas as pd

TASKS = ("binary", "multiclass", "regression")


@lru_cache(maxsize=4)
def _table(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    """The file's table, read once per process and version of the file (a sweep's jobs share it)."""
    import pandas as pd

    if path.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def read_file(path: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Features and target of the file at `path` (CSV, or parquet by its suffix); ValueError naming
    what is wrong: no file, no such column, non-numeric features, NaN or infinite values."""
    full = os.path.abspath(path)
    if not os.path.isfile(full):
        raise ValueError(f"dataset.path={path}: no such file")
    stat = os.stat(full)
    table = _table(full, stat.st_mtime_ns, stat.st_size)
    if target not in table.columns:
        raise ValueError(
            f"dataset.target={target!r} is not a column of {path}; its columns: {', '.join(map(str, table.columns))}"
        )
    features = table.drop(columns=[target])
    from pandas.api.types import is_numeric_dtype

    text = [str(c) for c, kind in features.dtypes.items() if not is_numeric_dtype(kind)]
    if text:
        raise ValueError(
            f"{path}: non-numeric feature columns {', '.join(text)} (encode them as numbers, or drop them)"
        )
    x = features.to_numpy(dtype=np.float64)
    bad = {str(c): int(n) for c, n in zip(features.columns, (~np.isfinite(x)).sum(axis=0), strict=True) if n}
    y_frame = table[target]
    if y_frame.isna().any():
        bad[target] = int(y_frame.isna().sum())
    if bad:
        raise ValueError(f"{path}: NaN or infinite values in {', '.join(f'{c} ({n})' for c, n in bad.items())}")
    return x, y_frame.to_numpy()


def call_function(target: str, params: dict[str, Any], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) from the user's function at `target`, called with `params` (and `seed=` where it takes
    one); ValueError where it returns anything else, or X and y differ in length."""
    fn = import_object(target)
    if not callable(fn):
        raise ValueError(f"dataset _target_={target} is not a function returning (X, y)")
    takes_seed = "seed" in inspect.signature(fn).parameters
    out = fn(**params, **({"seed": seed} if takes_seed and "seed" not in params else {}))
    if not (isinstance(out, tuple | list) and len(out) == 2):
        raise ValueError(f"dataset _target_={target} returned {type(out).__name__}, not (X, y)")
    x, y = np.asarray(out[0], dtype=np.float64), np.asarray(out[1])
    if x.ndim == 1:
        x = x[:, None]
    if len(x) != len(y):
        raise ValueError(f"dataset _target_={target}: X has {len(x)} rows but y has {len(y)}")
    if not np.isfinite(x).all():
        raise ValueError(f"dataset _target_={target}: X holds {int((~np.isfinite(x)).sum())} NaN or infinite values")
    return x, y


def infer_task(y: np.ndarray) -> str:
    """binary for two classes, multiclass for more; string labels are classes; float values that
    are not all whole numbers are a regression target. ValueError for a single class."""
    if y.dtype.kind in "fc" and not np.all(np.mod(y, 1) == 0):
        return "regression"
    classes = len(np.unique(y))
    if classes < 2:
        raise ValueError(f"the target has a single class ({np.unique(y)[0]!r}): nothing to classify")
    return "binary" if classes == 2 else "multiclass"
