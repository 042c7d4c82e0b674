"""Pick the compute device: CUDA when present, else the CPU."""

import torch

from .errors import RoadkdError


def select_device(name: str = "auto") -> torch.device:
    """Return the device named by ``name`` ("auto", "cpu", "cuda" or "cuda:N").

    Args:
        name: "auto" picks CUDA when available and the CPU otherwise.

    Returns:
        The torch device.

    Raises:
        RoadkdError: if CUDA is asked for but not available.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RoadkdError(f"--device {name} asked for, but no CUDA device is available")
    try:
        return torch.device(name)
    except RuntimeError as err:
        raise RoadkdError(f"unknown device {name!r}: use auto, cpu or cuda") from err
