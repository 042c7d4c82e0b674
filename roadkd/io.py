"""Small I/O helpers shared by every writer: atomic outputs and readable input checks."""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import RoadkdError


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` that is renamed onto ``path`` on success.

    On any exception the temporary file is removed, so a failed run never leaves a
    half-written output behind. The temporary file keeps the target's extension, because
    GDAL/OGR drivers pick the format from it.

    Args:
        path: the final output path.
        suffix: extension of the temporary file; defaults to the target's own.

    Yields:
        The temporary path to write to.

    Raises:
        RoadkdError: if the output folder does not exist or cannot be written.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise RoadkdError(f"cannot write {target}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise RoadkdError(f"cannot write {target}: folder {folder} is not writable")
    fd, name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=suffix or target.suffix, dir=folder
    )
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()  # drivers such as GPKG refuse to open an existing empty file
    try:
        yield tmp
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            if tmp.is_dir():
                shutil.rmtree(tmp)
            else:
                tmp.unlink()
        raise


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
