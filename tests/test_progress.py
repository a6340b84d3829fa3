"""Progress: an updating line on a terminal (a pseudo-terminal here), plain lines in a log, none in the identity."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import select
import struct
import sys
import termios
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import FAST

from annlab import progress
from annlab.config import RunConfig
from annlab.train.identity import config_hash
from annlab.train.job import JobMeta, run_job


@pytest.fixture
def terminal() -> Iterator[tuple[io.TextIOWrapper, Callable[[], str]]]:
    """A pseudo-terminal: the file a program writes to (a tty) and a reader of what it shows."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a terminal has a size
    out = os.fdopen(follower, "w", buffering=1)

    def shown() -> str:
        out.flush()
        chunks = []
        # the terminal hands the program's output over asynchronously: read until it stays quiet
        while select.select([leader], [], [], 0.5)[0]:
            chunks.append(os.read(leader, 65536).decode())
        return "".join(chunks)

    yield out, shown
    out.close()
    os.close(leader)


def test_a_job_on_a_terminal_shows_one_updating_line(
    terminal: tuple[io.TextIOWrapper, Callable[[], str]],
    config: Callable[..., RunConfig],
    store: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, shown = terminal
    monkeypatch.setattr(progress, "DELAY_S", 0.0)  # the bar appears after 3 s; this job is shorter
    monkeypatch.setattr(progress, "REDRAW_S", 0.0)  # and every epoch redraws it
    monkeypatch.setattr(sys, "stdout", out)
    run_job(config(*FAST, "trainer.epochs=5"), JobMeta(label="job 1/1"), uri=store)
    text = shown()
    assert "\r" in text  # one line, redrawn in place
    assert "job 1/1 relu-kaiming-d3-moons-s0" in text and "5/5" in text and "train/loss=" in text
    assert "<00:00" in text or "00:00<" in text  # tqdm's elapsed<remaining


def test_a_short_job_on_a_terminal_shows_no_bar(terminal: tuple[io.TextIOWrapper, Callable[[], str]]) -> None:
    out, shown = terminal
    with progress.JobProgress("job 1/1 x", 3, "auto", out) as bar:
        for epoch in (1, 2, 3):
            bar.update(epoch, 0.5)
    assert "epoch" not in shown()


def test_in_a_log_progress_is_plain_lines_at_most_every_ten_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    log = io.StringIO()  # not a terminal
    clock = iter([0.0, 1.0, 12.0, 13.0, 30.0])  # the job starts, then each epoch ends
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    job = progress.JobProgress("job 2/4 tanh-xavier-d5-moons-s0", 10, "auto", log)
    for epoch, loss in ((1, 0.9), (2, 0.7), (3, 0.6), (4, 0.5)):
        job.update(epoch, loss)
    job.close()
    lines = log.getvalue().splitlines()
    assert lines == [
        "annlab: job 2/4 tanh-xavier-d5-moons-s0: epoch 2/10 train/loss=0.7 elapsed 00:12, ~00:48 left",
        "annlab: job 2/4 tanh-xavier-d5-moons-s0: epoch 4/10 train/loss=0.5 elapsed 00:30, ~00:45 left",
    ]
    assert not any(c in log.getvalue() for c in "\r\x1b")


def test_progress_off_prints_nothing_even_on_a_terminal(terminal: tuple[io.TextIOWrapper, Callable[[], str]]) -> None:
    out, shown = terminal
    with progress.JobProgress("job", 2, "off", out) as job:
        job.update(1, 0.1)
        job.update(2, 0.1)
    assert shown() == ""


def test_the_progress_switch_is_not_part_of_what_ran(config: Callable[..., RunConfig], tmp_path: Path) -> None:
    assert {config_hash(config(f"progress={mode}")) for mode in ("auto", "bar", "lines", "off")} == {
        config_hash(config())
    }


def test_the_sweep_estimate_reads_the_time_per_job_so_far(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(progress.SWEEP_START_ENV, "1000")
    monkeypatch.setattr(progress.time, "time", lambda: 1060.0)
    assert progress.sweep_eta(3, 9) == " · 3/9 done, ~02:00 left"
    monkeypatch.delenv(progress.SWEEP_START_ENV)
    assert progress.sweep_eta(3, 9) == ""
