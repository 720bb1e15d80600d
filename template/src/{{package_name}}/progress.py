"""Progress of long steps: each part of a step is announced as it starts.

Training, scoring and monitoring a large table take minutes, most of it inside one Spark job or
one ``fit``. A line per part ("train 3/4: fitting the model on 1,000,000 rows") says what the
step is doing now, in a terminal and in a Databricks task's output alike. The lines go to the
``progress`` logger, which the command line shows by default; how long each part took is logged
at the end of the part for ``--verbose``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

PROGRESS_LOGGER = f"{__package__}.progress"

progress_logger = logging.getLogger(PROGRESS_LOGGER)
# How long each part took: with the package's other INFO lines, shown with --verbose.
timing_logger = logging.getLogger(f"{__package__}.timing")


class _CurrentStderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a line is emitted (pytest swaps it per test)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # a closed stream must never fail the step
            self.handleError(record)


def show_progress() -> None:
    """Print progress lines as they are, without level or logger name; once per process."""
    progress_logger.setLevel(logging.INFO)
    progress_logger.propagate = False
    if not any(isinstance(handler, _CurrentStderrHandler) for handler in progress_logger.handlers):
        progress_logger.addHandler(_CurrentStderrHandler())


class StepProgress:
    """Announces the parts of one step in order: ``<step> <n>/<parts>: <what>``."""

    def __init__(self, step: str, parts: int) -> None:
        self.step = step
        self.parts = parts
        self.started = 0

    @contextmanager
    def part(self, what: str) -> Iterator[None]:
        """Announce ``what`` as the next part, run the block, and log how long it took."""
        self.started += 1
        progress_logger.info("%s %d/%d: %s", self.step, self.started, self.parts, what)
        began = time.perf_counter()
        yield
        timing_logger.info("%s: %s took %.1f s", self.step, what, time.perf_counter() - began)
