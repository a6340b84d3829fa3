"""SIGTERM as a request to stop, honoured between optimiser steps: the run then ends KILLED."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


class Terminated(BaseException):
    """SIGTERM arrived: like Ctrl-C, the run ends KILLED rather than RUNNING forever."""


_requested: list[int] = []


def check() -> None:
    """Raise Terminated if SIGTERM arrived since the job started (called at safe points: between
    steps, never inside a write to the store, whose half-done transaction would hold its lock)."""
    if _requested:
        raise Terminated(f"signal {_requested[0]}")


@contextmanager
def sigterm_requests_stop() -> Iterator[None]:
    """While a job runs, SIGTERM sets a flag that `check` turns into Terminated."""
    _requested.clear()

    def handler(signum: int, frame: object) -> None:
        _requested.append(signum)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals to whoever owns it
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        _requested.clear()
