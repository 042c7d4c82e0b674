"""Inference backends: raw pixels in, road probability out."""

from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor

from ..device import select_device, threads_text, usable_cores
from ..errors import RoadkdError, brief_reason
from ..models.deploy import DataFacts, DataFactsView, DeployBundle, load_bundle
from ..normalization import normalize


class Backend(Protocol):
    """What tiled inference needs from a model, whatever runs it.

    Attributes:
        in_channels: bands the network takes.
        data: the facts of its training data (normalisation, tile, metres per pixel, the
            percentiles 16-bit and float scenes are stretched onto), as the model file
            records them.
        device: where it runs.
    """

    in_channels: int
    data: DataFacts
    device: torch.device

    def predict(self, batch: Tensor) -> Tensor:
        """Map (N, C, H, W) raw 0-255 pixels to (N, H, W) float32 road probability."""
        ...

    def describe(self) -> str:
        """What runs the model: runtime, precision, device and threads, for the log."""
        ...


class TorchBackend(DataFactsView):
    """Runs a deploy bundle (checkpoint or safetensors) with PyTorch; autocast on CUDA."""

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None) -> None:
        """Load the model.

        Args:
            path: a roadkd Lightning checkpoint, saved deploy bundle or ``.safetensors``
                export (read without running code from it: see ``roadkd.models.checkpoint``).
            device: "auto", "cpu" or "cuda".
            threads: on the CPU, torch's threads (None: as they are).
        """
        self._run(load_bundle(path), device, threads)

    @classmethod
    def of_bundle(
        cls, bundle: DeployBundle, device: str = "auto", threads: int | None = None
    ) -> "TorchBackend":
        """A backend for a bundle already in memory (e.g. each teacher of a checkpoint)."""
        backend = cls.__new__(cls)
        backend._run(bundle, device, threads)
        return backend

    def _run(self, bundle: DeployBundle, device: str, threads: int | None) -> None:
        self.device = select_device(device)
        if threads is not None and self.device.type == "cpu":
            torch.set_num_threads(threads)
        self.model = bundle.model.to(self.device).eval()
        self.in_channels = bundle.config.in_channels
        self.data = bundle.data

    @torch.inference_mode()
    def predict(self, batch: Tensor) -> Tensor:
        """Map (N, C, H, W) raw 0-255 pixels to (N, H, W) float32 road probability."""
        x = normalize(batch.to(self.device, non_blocking=True), self.data.mean, self.data.std)
        with torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
            logits = self.model(x)
        road: Tensor = logits.float().softmax(dim=1)[:, -1]
        return road

    def describe(self) -> str:
        """What runs the model: runtime, precision, device and threads, for the log."""
        if self.device.type == "cuda":
            return f"PyTorch, float16 autocast, {self.device}"
        return f"PyTorch, float32, CPU, {threads_text(torch.get_num_threads())}"


def inference_threads(workers: int | None = None) -> int:
    """CPU threads for the model, beside ``workers`` vectorising processes.

    Every core this process may use, less one per vectorising process working beside the
    model (``--workers`` above 1; a single worker vectorises in the model's own process,
    between batches): threads that outnumber the cores wait for each other at every
    parallel step of the network.

    Args:
        workers: vectorising processes (None or 1: none beside the model).

    Returns:
        At least one thread.
    """
    beside = workers if workers is not None and workers > 1 else 0
    return max(1, usable_cores() - beside)


def load_backend(path: str | Path, device: str = "auto", threads: int | None = None) -> Backend:
    """Open a model for inference: ``.onnx`` runs on onnxruntime, anything else on PyTorch.

    No model file runs code while it is opened: checkpoints are read with an allow-list,
    ``.safetensors`` hold only tensors and ONNX files are checked first.

    Args:
        path: model file (``.ckpt``/``.pt``, ``.safetensors`` or ``.onnx``).
        device: "auto", "cpu" or "cuda".
        threads: threads of the model on the CPU (None: the runtime's default; see
            :func:`inference_threads`).

    Returns:
        The backend.

    Raises:
        RoadkdError: if the file is missing, unsafe or holds no roadkd model.
    """
    if Path(path).suffix.lower() == ".onnx":
        try:
            from .onnx_backend import OnnxBackend
        except ModuleNotFoundError as err:
            raise RoadkdError(
                f"{path} needs {err.name} to run: pip install 'roadkd[onnx]'"
            ) from err
        return OnnxBackend(path, device, threads)
    return TorchBackend(path, device, threads)


def check_model_runs(backend: Backend, tile: int, model: str | Path) -> None:
    """Run one tile of zeros through a model before any work, and check what comes out.

    What a model file says about itself is checked when it is opened; whether its network
    takes a tile of this side (an input fixed to another size, a network whose strides do
    not divide the tile, a graph broken inside) shows only when it runs. One tile costs
    little next to a scene, and a model's first run pays its warm-up anyway.

    Args:
        backend: the opened model.
        tile: the tile side the work will use.
        model: the model file, for messages.

    Raises:
        RoadkdError: if the model fails on such a tile, or does not give one road
            probability in [0, 1] per pixel of it.
    """
    try:
        probability = backend.predict(torch.zeros(1, backend.in_channels, tile, tile))
    except RoadkdError:
        raise
    except Exception as err:  # torch and onnxruntime raise many types for a model that cannot run
        raise RoadkdError(
            f"model {model} cannot predict {tile}x{tile} px tiles ({brief_reason(err)})"
        ) from err
    if tuple(probability.shape) != (1, tile, tile):
        raise RoadkdError(
            f"model {model} gave a {tuple(probability.shape)} probability for one {tile}x{tile} "
            "px tile"
        )
    if not bool(((probability >= 0) & (probability <= 1)).all()):
        raise RoadkdError(f"model {model} does not give a road probability in [0, 1] per pixel")
