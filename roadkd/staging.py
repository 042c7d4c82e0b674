"""Files on disk, handled safely: staged outputs, scratch folders, what may be replaced.

Staged files and scratch folders carry the id of the process that made them, so that the
next run removes what a killed run (SIGKILL, power cut) left behind, and never what a
run still working next door is writing. :class:`roadkd.io.OutputPlan` builds on these.
"""

import contextlib
import os
import shutil
import stat
import struct
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import RoadkdError
from .formats import SHAPEFILE, SHAPEFILE_SIDECARS

#: Every staged (not yet finished) file or folder starts with this name.
PARTIAL_PREFIX = ".roadkd-partial-"

#: Scratch folders in the system temp folder start with this name, then the process id
#: (``roadkd-pid1234-predict-xxxx``): distinctive enough that a user's own ``roadkd-2024``
#: folder is never taken for one.
SCRATCH_PREFIX = "roadkd-pid"

#: Folder inside a staging folder holding the files a commit replaces, until it succeeds.
#: A killed commit's files there are put back by the next run's sweep.
REPLACED_FOLDER = ".roadkd-replaced"


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


def remove(path: Path) -> None:
    """Remove a file or a folder tree, if it is there (what cannot be removed stays)."""
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
                remove(entry)
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


def folder_of(path: Path) -> Path:
    """The folder a path lies in (``.`` for a bare file name)."""
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
    folder = folder_of(target)
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
            remove(tmp)
        raise


def check_output_folder(target: Path) -> Path:
    """Return the folder of ``target`` if it exists and is writable.

    Raises:
        RoadkdError: if it does not exist, is not a folder or cannot be written.
    """
    folder = folder_of(target)
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
    # an old sidecar the new Shapefile lacks goes too, so that a reader never pairs new
    # geometry with an old index or projection
    parts = [target]
    if target.suffix.lower() == SHAPEFILE:
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
