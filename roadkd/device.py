"""Pick the compute device: CUDA when present, else the CPU."""

import os

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


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads_text(count: int) -> str:
    """``"1 thread"``, ``"4 threads"``: a thread count for messages."""
    return f"{count} thread{'' if count == 1 else 's'}"
