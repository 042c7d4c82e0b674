"""Run an exported student with onnxruntime: no PyTorch model code or GPU needed."""

import json
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..device import select_device
from ..errors import RoadkdError
from ..normalization import normalize


class OnnxBackend:
    """An ONNX export of ``roadkd export`` behind the inference backend interface."""

    def __init__(self, path: str | Path, device: str = "auto") -> None:
        """Open the model (CUDA provider when asked for and available, else the CPU).

        Raises:
            RoadkdError: if the file is missing, not ONNX, or lacks roadkd's metadata.
        """
        import onnxruntime as ort

        p = Path(path)
        if not p.is_file():
            raise RoadkdError(f"model not found: {p}")
        self.device = select_device(device)
        providers = ["CPUExecutionProvider"]
        if self.device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(p), providers=providers)
        except Exception as err:  # onnxruntime raises its own exception types
            raise RoadkdError(f"cannot read model {p}: not a valid ONNX file ({err})") from err
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            values = {k: json.loads(v) for k, v in meta.items()}
            self.mean = tuple(values["standardization_mean"])
            self.std = tuple(values["standardization_std"])
            self.tile_size = int(values["tile_size"])
            self.resolution_m = float(values["resolution"]) / 100
        except (KeyError, ValueError) as err:
            raise RoadkdError(
                f"{p} lacks roadkd/Deepness metadata ({err}): export it with roadkd export"
            ) from err
        self.in_channels = int(self.session.get_inputs()[0].shape[1])
        self.input_name = self.session.get_inputs()[0].name

    def predict(self, batch: Tensor) -> Tensor:
        """Map (N, C, H, W) raw 0-255 pixels to (N, H, W) float32 road probability."""
        x = normalize(batch.cpu(), self.mean, self.std).numpy().astype(np.float32)
        (prob,) = self.session.run(None, {self.input_name: x})
        return torch.from_numpy(prob[:, 0])
