"""The trainability check's reading of the correlation map: one threshold, its side and its errors."""

from __future__ import annotations

import pandas as pd

from annlab.studies.trainability import separation


def test_the_best_threshold_and_its_errors() -> None:
    cells = pd.MultiIndex.from_tuples([("relu", i) for i in ("a", "b", "c", "d", "e")], names=["activation", "init"])
    cosine = pd.Series([0.2, 0.3, 0.5, 0.9, 0.95], index=cells)
    trained = pd.Series([True, True, True, False, False], index=cells)
    assert separation(cosine, trained) == (0.7, "below", 0)
    assert separation(cosine, ~trained) == (0.7, "above", 0)
    trained = pd.Series([True, False, True, False, False], index=cells)
    assert separation(cosine, trained)[2] == 1  # no cut gets every cell right; the best misses one
