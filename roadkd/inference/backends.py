"""Inference backends: raw pixels in, road probability out."""

from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor

from ..device import select_device
from ..errors import RoadkdError
from ..imagery import BandPercentiles
from ..models.deploy import load_bundle
from ..normalization import normalize


class Backend(Protocol):
    """What tiled inference needs from a model, whatever runs it."""

    in_channels: int
    tile_size: int
    resolution_m: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    #: The training imagery's 2 and 98 percentiles (None: not recorded), which 16-bit and
    #: float scenes are stretched onto.
    input_percentiles: BandPercentiles | None
    device: torch.device

    def predict(self, batch: Tensor) -> Tensor:
        """Map (N, C, H, W) raw 0-255 pixels to (N, H, W) float32 road probability."""
        ...


class TorchBackend:
    """Runs a deploy bundle (checkpoint or safetensors) with PyTorch; autocast on CUDA."""

    def __init__(self, path: str | Path, device: str = "auto") -> None:
        """Load the model.

        Args:
            path: a roadkd Lightning checkpoint, saved deploy bundle or ``.safetensors``
                export (read without running code from it: see ``roadkd.models.checkpoint``).
            device: "auto", "cpu" or "cuda".
        """
        bundle = load_bundle(path)
        self.device = select_device(device)
        self.model = bundle.model.to(self.device).eval()
        self.in_channels = bundle.config.in_channels
        self.tile_size = bundle.tile_size
        self.resolution_m = bundle.resolution_m
        self.mean = bundle.mean
        self.std = bundle.std
        self.input_percentiles = bundle.input_percentiles

    @torch.inference_mode()
    def predict(self, batch: Tensor) -> Tensor:
        """Map (N, C, H, W) raw 0-255 pixels to (N, H, W) float32 road probability."""
        x = normalize(batch.to(self.device, non_blocking=True), self.mean, self.std)
        with torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
            logits = self.model(x)
        road: Tensor = logits.float().softmax(dim=1)[:, -1]
        return road


def load_backend(path: str | Path, device: str = "auto") -> Backend:
    """Open a model for inference: ``.onnx`` runs on onnxruntime, anything else on PyTorch.

    No model file runs code while it is opened: checkpoints are read with an allow-list,
    ``.safetensors`` hold only tensors and ONNX files are checked first.

    Args:
        path: model file (``.ckpt``/``.pt``, ``.safetensors`` or ``.onnx``).
        device: "auto", "cpu" or "cuda".

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
        return OnnxBackend(path, device)
    return TorchBackend(path, device)
