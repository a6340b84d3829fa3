"""Progress a person can watch: an updating line per job on a terminal, plain lines in a log."""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

from annlab.outcomes import SWEEP_START_ENV

# A job shows progress once it has run this long: a short job's result line says it all.
DELAY_S = 3.0
# On a terminal, the line is redrawn at most this often (tqdm's own default).
REDRAW_S = 0.1
# Where output is not a terminal (a log file, CI, SLURM): at most one plain line this often per job.
PLAIN_EVERY_S = 10.0


def _interval(seconds: float) -> str:
    from tqdm import tqdm

    return str(tqdm.format_interval(max(0.0, seconds)))


class JobProgress:
    """One job's progress: epoch i/N, the last training loss, elapsed and remaining time. On a
    terminal (mode `auto` there, or `bar`) a tqdm bar that appears after DELAY_S and is cleared
    when the job ends; elsewhere (`auto` there, or `lines`) a plain line at most every
    PLAIN_EVERY_S, no control characters; `off`: nothing."""

    def __init__(self, label: str, epochs: int, mode: str = "auto", stream: TextIO | None = None) -> None:
        self.label, self.epochs, self.stream = label, epochs, stream or sys.stdout
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "lines"
        self.mode, self.bar = mode, None
        self.start = self.last_line = time.monotonic()
        if mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(
                total=epochs,
                desc=label,
                unit="epoch",
                delay=DELAY_S,
                leave=False,
                file=self.stream,
                mininterval=REDRAW_S,
            )

    def update(self, epoch: int, loss: float) -> None:
        """Epoch `epoch` (of `epochs`) is done with training loss `loss`."""
        if self.bar is not None:
            self.bar.set_postfix_str(f"train/loss={loss:.4g}", refresh=False)
            self.bar.update(epoch - self.bar.n)
        elif self.mode == "lines" and (now := time.monotonic()) - self.last_line >= PLAIN_EVERY_S:
            self.last_line, elapsed = now, now - self.start
            left = elapsed / epoch * (self.epochs - epoch) if epoch else float("nan")
            print(
                f"annlab: {self.label}: epoch {epoch}/{self.epochs} train/loss={loss:.4g} "
                f"elapsed {_interval(elapsed)}, ~{_interval(left)} left",
                file=self.stream,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> JobProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def sweep_eta(done: int, total: int) -> str:
    """` · D/N done, ~T left` for a sweep's result line: the time per job so far (since the sweep
    began, so parallel workers count as they run) times the jobs still to run; empty outside a sweep."""
    started = os.environ.get(SWEEP_START_ENV)
    if not started or total <= 0 or done <= 0:
        return ""
    elapsed = time.time() - float(started)
    left = elapsed / done * max(0, total - done)
    return f" · {done}/{total} done, ~{_interval(left)} left"


class Watched:
    """A training sink (annlab.train.loop.Sink) that also moves a job's progress at each epoch."""

    def __init__(self, sink: Any, progress: JobProgress) -> None:
        self.sink, self.progress = sink, progress

    def layer_stats(self, step: int, values: Any) -> None:
        self.sink.layer_stats(step, values)

    def layer_distributions(self, rows: Any) -> None:
        self.sink.layer_distributions(rows)

    def epoch_metrics(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        self.sink.epoch_metrics(epoch, step, metrics)
        if epoch:
            self.progress.update(epoch, metrics["train/loss"])
