"""Progress of long jobs (tiles predicted, blocks vectorised), reported one way.

The engines count what they finish on a :class:`Counter` that a :class:`Progress` hands
them, one counter per stage; they never draw anything themselves. :class:`Bars` draws
tqdm bars on stderr. Another report (e.g. JSON lines for a program that drives roadkd)
is one more class with a ``counter`` method, chosen by the caller; the engines do not
change.

Stages: ``"predict"`` counts tiles (unit ``"tile"``), ``"vectorize"`` counts blocks
(unit ``"block"``).
"""

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

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

    def counter(self, stage: str, total: int | None, unit: str) -> tqdm:
        """A bar for ``stage``."""
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
