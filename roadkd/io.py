"""Small I/O helpers shared by every writer: output plans, atomic outputs, input checks.

A user's data is sacred. Every command that writes follows the same steps:

1. **Plan** every output first (:class:`OutputPlan`): its format from the extension, its
   folder, and that it is neither an input nor another output. Nothing has been done yet.
2. **Stage** each output under a hidden name in its own folder (``.roadkd-partial-<pid>-...``).
3. **Move** all of them into place only when everything succeeded: first every target is
   checked replaceable, then the files being replaced are set aside (renamed into the
   staging folder), then the new ones are renamed into place; a failed rename takes back
   the new ones and puts back what was set aside: all outputs or none. A failure or an
   interruption during the work removes the staged files and leaves every existing file
   as it was.

Staged files and scratch folders carry the id of the process that made them, so that the
next run removes what a killed run (SIGKILL, power cut) left behind, and never what a
run still working next door is writing.
"""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import RoadkdError
from .formats import LAYERED
from .staging import (
    PARTIAL_PREFIX,
    REPLACED_FOLDER,
    SCRATCH_PREFIX,
    atomic_output,
    check_replaceable,
    folder_of,
    process_alive,
    remove,
    remove_stale,
    remove_stale_scratch,
    restore_replaced,
    same_file,
    scratch_folder,
    target_parts,
)

#: Names of :mod:`roadkd.staging` that callers import from here.
__all__ = [
    "PARTIAL_PREFIX",
    "SCRATCH_PREFIX",
    "OutputPlan",
    "apply_gdal_defaults",
    "atomic_output",
    "check_replaceable",
    "process_alive",
    "reading",
    "remove_stale",
    "remove_stale_scratch",
    "require_file",
    "same_file",
    "scratch_folder",
]


@dataclass
class _Planned:
    target: Path
    option: str
    folder: bool = False
    staged: Path | None = None


@dataclass
class OutputPlan:
    """Every output of a run, checked before any work, staged, moved into place at the end.

    Use as a context manager around the work: on success every staged output is moved
    onto its target; on any failure (an interruption too) every staged file is removed and
    every existing file stays as it was. Entering sweeps the staged leftovers of killed
    runs from the output folders.

    Example::

        plan = OutputPlan()
        plan.add_input(scene, "input scene")
        plan.add(out, "--out", VECTOR_OUTPUTS)
        with plan:
            write(plan.stage(out))
    """

    inputs: list[tuple[str, Path]] = field(default_factory=list)
    _outputs: list[_Planned] = field(default_factory=list)
    _staging: dict[Path, Path] = field(default_factory=dict)
    _made_folders: list[Path] = field(default_factory=list)

    def add_input(self, path: str | os.PathLike[str], what: str) -> None:
        """Record a file the run reads (no output may be it).

        Args:
            path: the input.
            what: how to name it in messages (e.g. "input scene", "model").

        Raises:
            RoadkdError: if an output planned already is this input.
        """
        self.inputs.append((what, Path(path)))
        for planned in self._outputs:
            self._check_not_input(planned.target, planned.option)

    def add(
        self,
        path: str | os.PathLike[str],
        option: str,
        suffixes: Iterable[str] | None = None,
        make_folder: bool = False,
        folder: bool = False,
    ) -> Path:
        """Plan an output: check its format, folder and that it destroys nothing.

        Args:
            path: the output file.
            option: how the user named it (e.g. "--prob"), for messages.
            suffixes: accepted extensions (lower case, with the dot); None: any.
            make_folder: the folder may be missing (it is made when the output is staged,
                and removed again if the run fails).
            folder: the output is a folder of files written together (an existing one is
                replaced whole on success; the caller checks that it may be).

        Returns:
            The path.

        Raises:
            RoadkdError: for a refused extension, a folder that is missing or not
                writable, a path that is a folder, an existing file that cannot be
                replaced (see :func:`check_replaceable`), or a path that is an input or
                another output.
        """
        target = Path(path)
        accepted = tuple(suffixes) if suffixes is not None else None
        if accepted is not None and target.suffix.lower() not in accepted:
            found = f"'{target.suffix}'" if target.suffix else "no extension"
            choices = accepted[0] if len(accepted) == 1 else f"one of {', '.join(accepted)}"
            raise RoadkdError(
                f"{option} {target}: {found} is not an output format roadkd writes here; "
                f"use {choices}"
            )
        if not (make_folder and not folder_of(target).exists()):
            check_replaceable(target, option, folder)
        self._check_not_input(target, option)
        for planned in self._outputs:
            if same_file(planned.target, target):
                raise RoadkdError(f"{option} must differ from {planned.option}: both are {target}")
        self._outputs.append(_Planned(target, option, folder))
        return target

    def _check_not_input(self, target: Path, option: str) -> None:
        for what, source in self.inputs:
            if same_file(source, target):
                raise RoadkdError(
                    f"{option} {target} is the {what} this run reads; "
                    "refusing to overwrite it (choose another output name)"
                )

    @property
    def targets(self) -> list[Path]:
        """The planned outputs, in the order they were added."""
        return [planned.target for planned in self._outputs]

    def stage(self, path: str | os.PathLike[str]) -> Path:
        """The path to write a planned output to; it replaces the target on success.

        A container (a GeoPackage) that exists already is copied first, so that writing
        roadkd's layers into the staged copy keeps the user's other layers.

        Raises:
            RoadkdError: if ``path`` was not planned or its folder cannot be made.
        """
        target = Path(path)
        planned = next((p for p in self._outputs if p.target == target), None)
        if planned is None:
            raise RoadkdError(f"internal: output {target} was not planned")
        if planned.staged is None:
            planned.staged = self._staging_folder(folder_of(target), planned) / target.name
            if target.suffix.lower() in LAYERED and target.is_file():
                try:
                    shutil.copy2(target, planned.staged)
                except OSError as err:
                    raise RoadkdError(f"cannot update {target}: {err.strerror}") from err
        return planned.staged

    def _staging_folder(self, folder: Path, planned: _Planned) -> Path:
        key = folder.resolve() if folder.exists() else folder.absolute()
        if key not in self._staging:
            try:
                if not folder.exists():
                    folder.mkdir(parents=True)
                    self._made_folders.append(folder)
                self._staging[key] = Path(
                    tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{os.getpid()}-", dir=folder)
                )
            except OSError as err:
                raise RoadkdError(
                    f"cannot write {planned.option} {planned.target}: {err.strerror}"
                ) from err
        return self._staging[key]

    def commit(self) -> None:
        """Move every staged output onto its target, all or none (unstaged ones are skipped).

        Every target is checked replaceable before any is touched; then every file being
        replaced is set aside in its staging folder, then every new file is renamed into
        place. If a rename fails, the new files placed so far are removed and the files
        set aside are put back.

        Raises:
            RoadkdError: if a target cannot be replaced; then every target is as it was.
        """
        staged = [planned for planned in self._outputs if planned.staged is not None]
        for planned in staged:
            assert planned.staged is not None
            if not planned.staged.exists():
                raise RoadkdError(f"internal: {planned.option} {planned.target} was not written")
            check_replaceable(planned.target, planned.option, planned.folder)
        placed: list[Path] = []
        current = staged[0] if staged else None
        try:
            for current in staged:
                assert current.staged is not None
                _set_aside(current.target, current.staged.parent / REPLACED_FOLDER)
            for current in staged:
                assert current.staged is not None
                _move_into_place(current.staged, current.target, placed)
        except BaseException as err:
            for path in reversed(placed):
                remove(path)
            for staging in self._staging.values():
                restore_replaced(staging)
            if isinstance(err, OSError) and current is not None:
                raise RoadkdError(
                    f"cannot replace {current.option} {current.target}: {err.strerror}; "
                    "every output was left as it was"
                ) from err
            raise
        self._remove_staging()

    def discard(self) -> None:
        """Remove every staged file and any folder the plan made; targets stay as they were."""
        for key, staging in list(self._staging.items()):
            if restore_replaced(staging):  # after a failed commit
                # Never delete a user's file: the next run's sweep puts it back.
                del self._staging[key]
        self._remove_staging()
        for folder in reversed(self._made_folders):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty: never remove what someone else put there

    def _remove_staging(self) -> None:
        for staging in self._staging.values():
            shutil.rmtree(staging, ignore_errors=True)
        self._staging.clear()

    def __enter__(self) -> "OutputPlan":
        """Sweep killed runs' staged leftovers from the output folders."""
        for folder in {folder_of(p.target) for p in self._outputs}:
            remove_stale(folder, PARTIAL_PREFIX)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        """Commit on success, discard on any exception (which then propagates)."""
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.discard()
                raise
        else:
            self.discard()


def _set_aside(target: Path, aside: Path) -> None:
    """Move what a new ``target`` replaces (with a Shapefile's sidecars) into ``aside``."""
    for part in target_parts(target):
        aside.mkdir(exist_ok=True)
        os.rename(part, aside / part.name)


def _move_into_place(staged: Path, target: Path, placed: list[Path]) -> None:
    """Rename a staged file (with its Shapefile sidecars) or folder onto the free target.

    Appends each path it fills to ``placed``.
    """
    # A Shapefile's .shp last: a reader never sees a new .shp with an old .dbf beside it.
    for part in [*target_parts(staged)[1:], staged]:
        destination = target.with_suffix(part.suffix) if part != staged else target
        os.rename(part, destination)
        placed.append(destination)


def require_file(path: str | os.PathLike[str], what: str = "file") -> Path:
    """Return ``path`` as a Path, or raise a clear error if it is not an existing file.

    Args:
        path: the path to check.
        what: how to name the file in the message (e.g. "scene", "model").

    Returns:
        The path.

    Raises:
        RoadkdError: if the path does not exist or is not a file.
    """
    p = Path(path)
    if not p.exists():
        raise RoadkdError(f"{what} not found: {p}")
    if not p.is_file():
        raise RoadkdError(f"{what} is not a file: {p}")
    return p


@contextlib.contextmanager
def reading(path: str | os.PathLike[str], what: str = "raster") -> Iterator[None]:
    """Turn a GDAL read failure inside the block into a :class:`RoadkdError` naming the file.

    A truncated or damaged file often opens (its header is intact) and fails only when
    its pixels are read, deep inside inference.

    Args:
        path: the file being read.
        what: how to name it in the message.
    """
    from rasterio.errors import RasterioError

    try:
        yield
    except RasterioError as err:
        raise RoadkdError(
            f"cannot read {what} {path}: the file is damaged or incomplete ({err})"
        ) from err


#: GDAL settings roadkd's commands start with unless the user set them: a block cache of
#: 64 MB. GDAL's default (5 % of the RAM) lets memory grow with the scene up to several GB
#: when a large scene is streamed once; roadkd reads each band of tiles once and writes
#: whole rows of blocks, so the cache only needs the blocks that neighbouring tiles share.
GDAL_DEFAULTS = {"GDAL_CACHEMAX": "64"}


def apply_gdal_defaults() -> None:
    """Set :data:`GDAL_DEFAULTS` in the environment where the user has not set them.

    Call it before GDAL's first read; processes started later (vectorisation workers)
    inherit the environment.
    """
    for name, value in GDAL_DEFAULTS.items():
        os.environ.setdefault(name, value)
