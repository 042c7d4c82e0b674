"""The frozen teachers of a teachers-stage checkpoint, for the student and for diagnostics.

The SSLKD student distils from them and :mod:`roadkd.diagnostics` measures their pseudo
labels; both rebuild them here, from a checkpoint read without running code from it.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import RoadkdError, brief_reason
from .checkpoint import read_checkpoint
from .config import ModelConfig, as_model_config
from .factory import build_model

#: Hyper-parameter names (and ``state_dict`` prefixes) of the two teachers.
TEACHER_NAMES = ("teacher_a", "teacher_b")


def load_frozen_teachers(path: str | Path) -> list[tuple[nn.Module, ModelConfig]]:
    """Read a teachers-stage checkpoint and rebuild its two teachers, frozen, in eval mode.

    Args:
        path: a ``.ckpt`` written by ``CrossModelTeachers``.

    Returns:
        ``[(teacher_a, config_a), (teacher_b, config_b)]``.

    Raises:
        RoadkdError: if the file is missing, unsafe or not a teachers checkpoint.
    """
    return frozen_teachers(read_checkpoint(path, "teachers checkpoint"), Path(path))


def frozen_teachers(
    checkpoint: Mapping[str, Any], source: Path
) -> list[tuple[nn.Module, ModelConfig]]:
    """Rebuild the two teachers of an already-read teachers-stage checkpoint.

    Args:
        checkpoint: the checkpoint's top-level dictionary.
        source: the file it came from, for messages.

    Returns:
        ``[(teacher_a, config_a), (teacher_b, config_b)]``, frozen and in eval mode.

    Raises:
        RoadkdError: if the checkpoint is not a teachers checkpoint or its weights do not
            fit its teachers.
    """
    hparams = checkpoint.get("hyper_parameters")
    state = checkpoint.get("state_dict")
    if not isinstance(hparams, Mapping) or not isinstance(state, Mapping):
        raise RoadkdError(f"{source} is not a teachers checkpoint (no hyper-parameters)")
    if not all(name in hparams for name in TEACHER_NAMES):
        raise RoadkdError(f"{source} is not a teachers checkpoint (no teacher_a/teacher_b)")
    teachers = []
    for name in TEACHER_NAMES:
        config = ModelConfig(**{**as_model_config(hparams[name]).to_dict(), "weights": None})
        model = build_model(config)
        prefix = f"{name}."
        try:
            model.load_state_dict(
                {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            )
        except RuntimeError as err:
            raise RoadkdError(
                f"{source}: the {name} weights do not fit ({brief_reason(err)})"
            ) from err
        model.eval().requires_grad_(False)
        teachers.append((model, config))
    return teachers
