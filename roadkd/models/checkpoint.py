"""Read PyTorch checkpoints without running code from them: roadkd's one ``torch.load``.

Models are shared like data (a colleague's ``student.ckpt``, a file from a forum, a model
for the QGIS plugin), and a pickle can call any Python function while it is read. Every
checkpoint a user can hand to roadkd is therefore read by :func:`read_checkpoint`, with
PyTorch's restricted unpickler (``weights_only=True``) and an explicit allow-list of the
few types roadkd's own checkpoints hold beyond tensors, numbers, strings and containers.
Anything else is refused before any of it runs.

Resuming training (``roadkd train ... --ckpt_path``) stays Lightning's own load: that file
is the user's own run.
"""

import pickle
import re
import warnings
from pathlib import Path, PosixPath, PurePosixPath, PureWindowsPath, WindowsPath
from typing import Any

import torch

from ..errors import RoadkdError, brief_reason
from ..io import require_file
from .config import ModelConfig

#: Types a roadkd checkpoint may hold besides what ``weights_only`` allows by default.
#: ``ModelConfig`` is in the hyper-parameters of a task built in Python (the CLI stores
#: dicts); paths are there when a Python caller passes a ``Path`` (e.g. the teachers
#: checkpoint). Building either runs no user code.
SAFE_TYPES: tuple[type, ...] = (
    ModelConfig,
    PosixPath,
    WindowsPath,
    PurePosixPath,
    PureWindowsPath,
)

#: Types under the names older roadkd versions pickled them with (ModelConfig lived in
#: ``roadkd.models.factory`` until it got a module of its own): their checkpoints still load.
FORMER_NAMES: tuple[tuple[type, str], ...] = ((ModelConfig, "roadkd.models.factory.ModelConfig"),)

#: How the restricted unpickler names the global it refused.
_REFUSED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def read_checkpoint(path: str | Path, what: str = "model") -> dict[str, Any]:
    """Read a checkpoint with the restricted unpickler, on the CPU.

    Args:
        path: a file written by ``torch.save`` (a Lightning ``.ckpt``, a saved bundle).
        what: what the file should be, for messages ("model", "teachers checkpoint").

    Returns:
        The checkpoint's top-level dictionary.

    Raises:
        RoadkdError: if the file is missing, is not a PyTorch checkpoint, is not a
            dictionary, or holds objects outside the allow-list (nothing of them runs).
    """
    p = require_file(path, what)
    try:
        with (
            torch.serialization.safe_globals([*SAFE_TYPES, *FORMER_NAMES]),
            warnings.catch_warnings(),
        ):
            # A raw pickle makes torch warn about its protocol before refusing it.
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            checkpoint = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        refused = _REFUSED_GLOBAL.search(str(err))
        if refused is None:
            raise RoadkdError(f"cannot read {what} {p}: not a PyTorch checkpoint") from err
        raise RoadkdError(
            f"{p} holds objects roadkd will not execute ({refused.group(1)}): a roadkd "
            "checkpoint holds only tensors, numbers, strings and model configs"
        ) from err
    except Exception as err:  # torch raises many types for a corrupt or truncated file
        reason = brief_reason(err)
        raise RoadkdError(f"cannot read {what} {p}: not a PyTorch checkpoint ({reason})") from err
    if not isinstance(checkpoint, dict):
        raise RoadkdError(f"{p} is not a roadkd {what}: it holds a {type(checkpoint).__name__}")
    return checkpoint
