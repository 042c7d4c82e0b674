"""Progress of long jobs (tiles predicted, blocks vectorised), reported one way.

The engines count what they finish on a :class:`Counter` that a :class:`Progress` hands
them, one counter per stage; they never draw anything themselves. :class:`Bars` draws
tqdm bars on stderr; :class:`JsonLines` writes one JSON object a line on stderr for a
program that drives roadkd (``--progress json``; the QGIS plugin turns them into its
bar)::

    {"event": "progress", "stage": "predict", "unit": "tile", "done": 12, "total": 40}
    {"event": "stage", "stage": "stitch"}

Stages: ``"predict"`` counts tiles (unit ``"tile"``), ``"vectorize"`` counts blocks
(unit ``"block"``), ``"from-vectors"`` the blocks of a dataset, ``"train"`` training
steps. Steps whose work is not counted (stitching, writing, the scores of a comparison)
are announced with :func:`report_stage`, to the reports that say such things
(:class:`StageReport`, e.g. JSON lines; a bar has nothing to show for them).
"""

import json
import sys
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Protocol, Self, runtime_checkable

if TYPE_CHECKING:
    from tqdm import tqdm


class Counter(Protocol):
    """Counts the units of one stage as they are done."""

    def update(self, n: int = 1) -> object:
        """``n`` more units are done."""


class Progress(Protocol):
    """Hands out one counter per stage of a job."""

    def counter(self, stage: str, total: int | None, unit: str) -> AbstractContextManager[Counter]:
        """A counter of ``total`` units (None: not known) for ``stage``, closed on exit."""


@dataclass(frozen=True)
class Bars:
    """tqdm progress bars on stderr (none when ``shown`` is false)."""

    shown: bool = True

    def counter(self, stage: str, total: int | None, unit: str) -> "tqdm":
        """A bar for ``stage``."""
        from tqdm import tqdm  # here: the CLI's option parsing imports this module

        return tqdm(total=total, unit=unit, desc=stage, disable=not self.shown)


#: No report at all.
SILENT = Bars(shown=False)


def as_progress(progress: "bool | Progress") -> Progress:
    """A progress report from the ``progress`` argument of a library call.

    ``True`` and ``False`` (what callers passed before reports could be chosen) are bars
    on stderr and no report; anything else is used as it is.
    """
    if isinstance(progress, bool):
        return Bars(progress)
    return progress


@runtime_checkable
class StageReport(Protocol):
    """A report that can say when a step whose work is not counted begins."""

    def stage(self, stage: str) -> None:
        """``stage`` begins."""


def report_stage(progress: "bool | Progress", stage: str) -> None:
    """Announce ``stage`` to ``progress`` if it is a :class:`StageReport` (else nothing)."""
    if isinstance(progress, StageReport):
        progress.stage(stage)


#: Lines a JSON counter writes at most over its total (besides its first and last).
JSON_STEPS = 1000

#: Seconds between two lines of a JSON counter that does not know its total.
UNCOUNTED_INTERVAL_S = 0.5


class JsonCounter:
    """A counter that writes its count through a :class:`JsonLines` report.

    It writes a line when it starts, each time its count passes another thousandth of its
    total (every half second at most without a total) and, if not yet written, its final
    count when it ends: at most about a thousand lines, whatever the job's size.
    """

    def __init__(self, report: "JsonLines", stage: str, total: int | None, unit: str) -> None:
        self.report, self.stage, self.total, self.unit = report, stage, total, unit
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
        self.report.write(
            {
                "event": "progress",
                "stage": self.stage,
                "unit": self.unit,
                "done": self.done,
                "total": self.total,
            }
        )


@dataclass
class JsonLines:
    """One JSON object a line: counted stages and the start of uncounted ones.

    Attributes:
        stream: where the lines go (None: stderr at the time of writing).
    """

    stream: IO[str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def counter(self, stage: str, total: int | None, unit: str) -> JsonCounter:
        """A counter writing ``stage``'s count as it passes each thousandth of ``total``."""
        return JsonCounter(self, stage, total, unit)

    def stage(self, stage: str) -> None:
        """Write ``{"event": "stage", "stage": stage}``."""
        self.write({"event": "stage", "stage": stage})

    def write(self, event: dict[str, object]) -> None:
        """Write one event as a line and flush it (a reader acts on each line at once)."""
        stream = self.stream or sys.stderr
        with self._lock:
            stream.write(json.dumps(event) + "\n")
            stream.flush()


#: The ``--progress`` choices: bars, JSON lines, nothing.
KINDS = ("bar", "json", "none")


def progress_for(kind: str, terminal: bool) -> Progress:
    """The report of a ``--progress`` choice (:data:`KINDS`).

    Args:
        kind: ``"bar"`` (tqdm bars, drawn only on a ``terminal``), ``"json"``
            (:class:`JsonLines`) or ``"none"`` (:data:`SILENT`).
        terminal: whether stderr is a terminal (a bar in a log file is noise).

    Raises:
        ValueError: for another kind.
    """
    reports: dict[str, Progress] = {"bar": Bars(terminal), "json": JsonLines(), "none": SILENT}
    if kind not in reports:
        raise ValueError(f"progress is one of {', '.join(KINDS)}, not {kind!r}")
    return reports[kind]
