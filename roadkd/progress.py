"""Progress of long runs: bars for a person at a terminal, JSON lines for a program.

Every long loop counts its work on a bar made by :func:`progress_bar` (tiles of inference,
blocks of vectorisation or of a dataset, steps of a training) and names the steps it cannot
count with :func:`progress_stage` (stitching, writing). What they show depends on the
reporter in use, which a command chooses once (``--progress bar|json``, :func:`reporting`):

- :class:`TqdmReporter` (the default): tqdm bars on stderr.
- :class:`JsonLinesReporter`: one JSON object a line on stderr, for a program running
  roadkd (the QGIS plugin turns them into its progress bar)::

      {"event": "progress", "stage": "predict", "unit": "tile", "done": 12, "total": 40}
      {"event": "stage", "stage": "stitch"}

  A counted bar writes a line when it starts, each time its count passes another
  thousandth of its total, and when it ends: at most about a thousand lines, whatever the
  scene's size.
"""

import contextlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO, Protocol, Self

from tqdm import tqdm

#: The ``--progress`` choices.
KINDS = ("bar", "json")

#: Lines a JSON bar writes at most over its total (besides its first and last).
JSON_STEPS = 1000

#: Seconds between two lines of a JSON bar that does not know its total.
UNCOUNTED_INTERVAL_S = 0.5


class ProgressBar(Protocol):
    """Counts the work of one stage (tqdm's interface, which tqdm itself satisfies)."""

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units done."""

    def close(self) -> None:
        """End the bar."""

    def __enter__(self) -> Self:
        """Use as a context manager: the bar closes when the block ends."""

    def __exit__(self, *exc: object) -> None:
        """Close the bar."""


class Reporter(Protocol):
    """Makes the bars of a run and reports its uncounted stages."""

    def bar(self, stage: str, total: int | None, unit: str) -> ProgressBar:
        """A bar counting ``total`` ``unit``s (None: unknown) of ``stage``."""

    def stage(self, stage: str) -> None:
        """Say that ``stage``, whose work is not counted, begins."""


class TqdmReporter:
    """tqdm bars on stderr; uncounted stages are not shown."""

    def bar(self, stage: str, total: int | None, unit: str) -> ProgressBar:
        """A tqdm bar described by ``stage``."""
        bar: ProgressBar = tqdm(total=total, unit=unit, desc=stage)
        return bar

    def stage(self, stage: str) -> None:
        """Nothing: a terminal sees the next bar."""


class JsonBar:
    """A bar that writes its count as JSON lines through its reporter."""

    def __init__(
        self, reporter: "JsonLinesReporter", stage: str, total: int | None, unit: str
    ) -> None:
        self.reporter, self.stage, self.total, self.unit = reporter, stage, total, unit
        self.done = 0
        self._lock = threading.Lock()
        self._write()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units; write a line if the count passed a step."""
        with self._lock:
            self.done += n
            if self._due():
                self._write()

    def close(self) -> None:
        """Write the final count unless it is the last one written."""
        with self._lock:
            if self.done != self._written_done:
                self._write()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _due(self) -> bool:
        if self.total:
            steps = min(self.done, self.total) * JSON_STEPS // self.total
            return steps > self._written_done * JSON_STEPS // self.total
        return time.monotonic() - self._written_at >= UNCOUNTED_INTERVAL_S

    def _write(self) -> None:
        self._written_done, self._written_at = self.done, time.monotonic()
        self.reporter.write(
            {
                "event": "progress",
                "stage": self.stage,
                "unit": self.unit,
                "done": self.done,
                "total": self.total,
            }
        )


class JsonLinesReporter:
    """One JSON object a line (``event``, ``stage``, and a bar's ``unit``/``done``/``total``)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        """Write to ``stream`` (default: stderr at the time of writing)."""
        self.stream = stream
        self._lock = threading.Lock()

    def bar(self, stage: str, total: int | None, unit: str) -> ProgressBar:
        """A bar writing its count as it passes each thousandth of ``total``."""
        return JsonBar(self, stage, total, unit)

    def stage(self, stage: str) -> None:
        """Write ``{"event": "stage", "stage": stage}``."""
        self.write({"event": "stage", "stage": stage})

    def write(self, event: dict[str, object]) -> None:
        """Write one event as a line and flush it (a reader acts on each line at once)."""
        stream = self.stream or sys.stderr
        with self._lock:
            stream.write(json.dumps(event) + "\n")
            stream.flush()


_active: Reporter = TqdmReporter()


def progress_bar(stage: str, total: int | None, unit: str, show: bool = True) -> ProgressBar:
    """A bar of the active reporter, or one that shows nothing when ``show`` is False.

    Args:
        stage: what is being counted ("predict", "vectorize", ...).
        total: units in all (None: unknown).
        unit: the unit's name, singular ("tile", "block", "step").
        show: whether to report at all.
    """
    if not show:
        silent: ProgressBar = tqdm(total=total, disable=True)
        return silent
    return _active.bar(stage, total, unit)


def progress_stage(stage: str, show: bool = True) -> None:
    """Report that an uncounted ``stage`` begins (when ``show``)."""
    if show:
        _active.stage(stage)


def reporter_for(kind: str) -> Reporter:
    """The reporter of a ``--progress`` choice ("bar" or "json").

    Raises:
        ValueError: for another name.
    """
    if kind not in KINDS:
        raise ValueError(f"progress is one of {', '.join(KINDS)}, not {kind!r}")
    return JsonLinesReporter() if kind == "json" else TqdmReporter()


@contextlib.contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    """Make ``reporter`` the active one while the block runs (then the previous again)."""
    global _active
    previous, _active = _active, reporter
    try:
        yield reporter
    finally:
        _active = previous
