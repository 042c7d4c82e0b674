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
import stat
import struct
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import RoadkdError

#: Every staged (not yet finished) file or folder starts with this name.
PARTIAL_PREFIX = ".roadkd-partial-"

#: Scratch folders in the system temp folder start with this name, then the process id
#: (``roadkd-pid1234-predict-xxxx``): distinctive enough that a user's own ``roadkd-2024``
#: folder is never taken for one.
SCRATCH_PREFIX = "roadkd-pid"

#: Folder inside a staging folder holding the files a commit replaces, until it succeeds.
#: A killed commit's files there are put back by the next run's sweep.
REPLACED_FOLDER = ".roadkd-replaced"

#: Outputs that hold several layers: writing one keeps the layers roadkd does not write.
CONTAINER_SUFFIXES = (".gpkg",)

#: Files that make up a Shapefile beside its ``.shp``; an old one the new file lacks is
#: removed, so a reader never pairs new geometry with an old index or projection.
SHAPEFILE_SIDECARS = (".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".qmd")


def _pid_of(name: str, prefix: str) -> int | None:
    """The process id in ``<prefix><pid>-...``, or None if the name has none."""
    if not name.startswith(prefix):
        return None
    digits = name[len(prefix) :].split("-", 1)[0]
    return int(digits) if digits.isdigit() else None


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (on this machine)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def remove_stale(folder: str | os.PathLike[str], prefix: str) -> list[Path]:
    """Remove the ``<prefix><pid>-*`` entries of ``folder`` whose process is gone.

    Args:
        folder: the folder to sweep.
        prefix: :data:`PARTIAL_PREFIX` for staged outputs, :data:`SCRATCH_PREFIX` for
            scratch folders in the system temp folder.

    Returns:
        The entries removed.
    """
    removed: list[Path] = []
    with contextlib.suppress(OSError):
        for entry in Path(folder).iterdir():
            pid = _pid_of(entry.name, prefix)
            if pid is not None and not process_alive(pid):
                restore_replaced(entry)
                _remove(entry)
                removed.append(entry)
    return removed


def remove_stale_scratch() -> list[Path]:
    """Remove ``roadkd-pid<pid>-*`` scratch folders of processes that are gone (at start)."""
    return remove_stale(tempfile.gettempdir(), SCRATCH_PREFIX)


def scratch_folder(purpose: str) -> "tempfile.TemporaryDirectory[str]":
    """A scratch folder in the system temp folder, named after this process.

    Args:
        purpose: a word for the folder name, e.g. "predict".

    Returns:
        A :class:`tempfile.TemporaryDirectory` (use it as a context manager).
    """
    return tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-{purpose}-")


def _folder_of(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _identity(path: Path) -> tuple[int, int] | Path:
    """What makes two paths the same file: (device, inode) if it exists, else the full path."""
    try:
        stat = path.stat()
    except OSError:
        return path.resolve()
    return (stat.st_dev, stat.st_ino)


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same file (through links, ``..`` or another spelling)."""
    return _identity(Path(a)) == _identity(Path(b))


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` that is renamed onto ``path`` on success.

    On any exception (an interruption too) the temporary file is removed, so a failed run
    never leaves a half-written output behind. The temporary file keeps the target's
    extension, because GDAL/OGR drivers pick the format from it, and carries
    :data:`PARTIAL_PREFIX` and the process id, so that a killed run's leftover is removed
    by the next run writing to the same folder.

    Args:
        path: the final output path.
        suffix: extension of the temporary file; defaults to the target's own.

    Yields:
        The temporary path to write to.

    Raises:
        RoadkdError: if the output folder does not exist or cannot be written, or the
            target cannot be replaced (checked before and after the work).
    """
    target = Path(path)
    check_replaceable(target, "output")
    folder = _folder_of(target)
    remove_stale(folder, PARTIAL_PREFIX)
    try:
        fd, name = tempfile.mkstemp(
            prefix=f"{PARTIAL_PREFIX}{os.getpid()}-",
            suffix=f"-{target.stem}{suffix or target.suffix}",
            dir=folder,
        )
    except OSError as err:
        raise RoadkdError(f"cannot write {target}: {err.strerror}") from err
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()  # drivers such as GPKG refuse to open an existing empty file
    try:
        yield tmp
        check_replaceable(target, "output")
        try:
            os.replace(tmp, target)  # one rename: the target is either replaced or as it was
        except OSError as err:
            raise RoadkdError(f"cannot replace {target}: {err.strerror}") from err
    except BaseException:
        if tmp.exists():
            _remove(tmp)
        raise


def check_output_folder(target: Path) -> Path:
    """Return the folder of ``target`` if it exists and is writable.

    Raises:
        RoadkdError: if it does not exist, is not a folder or cannot be written.
    """
    folder = _folder_of(target)
    if not folder.is_dir():
        raise RoadkdError(f"cannot write {target}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise RoadkdError(f"cannot write {target}: folder {folder} is not writable")
    return folder


# --- can a rename replace the target? -------------------------------------------------------

#: Linux inode flags (``chattr +i``, ``chattr +a``) and the ioctl that reads them.
_FS_IMMUTABLE_FL = 0x10
_FS_APPEND_FL = 0x20
_FS_IOC_GETFLAGS = (2 << 30) | (struct.calcsize("l") << 16) | (ord("f") << 8) | 1


def _linux_flags(path: Path) -> int:
    """A file's or folder's inode flags (``lsattr``); 0 where they cannot be read."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY)
    except OSError:
        return 0
    try:
        flags: int = struct.unpack("i", fcntl.ioctl(fd, _FS_IOC_GETFLAGS, bytes(4)))[0]
    except OSError:  # a file system without flags
        return 0
    finally:
        os.close(fd)
    return flags


def protection(path: Path) -> str | None:
    """How the file system forbids renaming or replacing ``path``, or None.

    These flags stop root too, whom permission bits do not: ``chattr +i``/``+a`` on
    Linux, ``chflags uchg``/``uappnd`` (and the system ones) on BSD and macOS.

    Returns:
        "immutable", "append-only", or None (not protected, or the flags cannot be read).
    """
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        return None  # a link is replaced itself; never open a device or a pipe
    bsd = getattr(info, "st_flags", None)
    if bsd is not None:
        immutable = bool(bsd & (stat.UF_IMMUTABLE | stat.SF_IMMUTABLE))
        append_only = bool(bsd & (stat.UF_APPEND | stat.SF_APPEND))
    elif sys.platform.startswith("linux"):
        flags = _linux_flags(path)
        immutable, append_only = bool(flags & _FS_IMMUTABLE_FL), bool(flags & _FS_APPEND_FL)
    else:
        return None
    return "immutable" if immutable else "append-only" if append_only else None


def _sticky_owner_only(folder: Path, entry: Path) -> bool:
    """Whether a sticky folder (such as /tmp) forbids this user to replace ``entry``."""
    if not hasattr(os, "geteuid"):
        return False
    try:
        folder_info, entry_info = folder.stat(), entry.lstat()
    except OSError:
        return False
    user = os.geteuid()
    if not folder_info.st_mode & stat.S_ISVTX or user == 0:
        return False
    return user not in (folder_info.st_uid, entry_info.st_uid)


def target_parts(target: Path) -> list[Path]:
    """The existing files a new ``target`` replaces: itself, and a Shapefile's sidecars."""
    parts = [target]
    if target.suffix.lower() == ".shp":
        parts += [target.with_suffix(s) for s in SHAPEFILE_SIDECARS]
    return [p for p in parts if os.path.lexists(p)]


def check_replaceable(target: Path, option: str, folder: bool = False) -> None:
    """Refuse an output that renaming a finished file onto it would fail to replace.

    Checked when an output is planned (before any work) and again just before outputs
    are moved into place (before any is moved).

    Args:
        target: the output.
        option: how the user named it (e.g. "--out"), for messages.
        folder: the output is a folder (else a file).

    Raises:
        RoadkdError: for a folder where a file goes (or the reverse), a missing or
            unwritable or append-only folder, or an existing target that the file
            system protects (immutable, append-only, another user's in a sticky folder).
    """
    if folder and target.exists() and not target.is_dir():
        raise RoadkdError(f"{option} {target} is a file; roadkd writes a folder there")
    if not folder and target.is_dir():
        raise RoadkdError(f"{option} {target} is a folder; give a file name")
    parent = check_output_folder(target)
    protected_folder = protection(parent)
    if protected_folder is not None:
        raise RoadkdError(
            f"cannot write {option} {target}: folder {parent} is {protected_folder} "
            "(files there cannot be replaced)"
        )
    for part in target_parts(target):
        protected = protection(part)
        if protected is not None:
            kind = "folder" if part.is_dir() else "file"
            raise RoadkdError(
                f"cannot replace {option} {part}: the existing {kind} is {protected} "
                "(lift it, e.g. chattr -i, or choose another output name)"
            )
        if _sticky_owner_only(parent, part):
            raise RoadkdError(
                f"cannot replace {option} {part}: it belongs to another user in a folder "
                "where only a file's owner may replace it; choose another output name"
            )


def restore_replaced(staging: Path) -> bool:
    """Put back the files a commit set aside in ``staging`` where nothing took their place.

    Run when a commit fails, and by the sweep on a killed run's staging folder (which sits
    in the targets' folder).

    Returns:
        Whether a file set aside could not be put back (it stays in ``staging``).
    """
    aside = staging / REPLACED_FOLDER
    if not aside.is_dir():
        return False
    stranded = False
    for entry in aside.iterdir():
        original = staging.parent / entry.name
        if os.path.lexists(original):
            continue  # its new file is in place (a killed commit)
        try:
            os.rename(entry, original)
        except OSError:
            stranded = True
    return stranded


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
        plan.add(out, "--out", (".geojson", ".gpkg", ".shp"))
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
        if not (make_folder and not _folder_of(target).exists()):
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
            planned.staged = self._staging_folder(_folder_of(target), planned) / target.name
            if target.suffix.lower() in CONTAINER_SUFFIXES and target.is_file():
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
                _remove(path)
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
        for folder in {_folder_of(p.target) for p in self._outputs}:
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
