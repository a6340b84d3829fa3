"""The odd half of the sweeper's differential corpus (see test_sweeper_differential.py)."""

from __future__ import annotations

from override_corpus import corpus
from test_sweeper_differential import CASES, Sides, compare, monkeypatch_module, sides

__all__ = ["monkeypatch_module", "sides"]  # the fixtures this file uses


def test_annlabs_sweeper_composes_every_job_as_hydra_does_odd_half(sides: Sides) -> None:
    compared, refused = compare(sides, corpus(CASES)[1::2])
    assert compared >= CASES / 2 and refused >= 3
