"""Export a trained student to ONNX, with the metadata the QGIS plugin Deepness reads."""

import json
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import Tensor, nn

from ..errors import RoadkdError
from ..io import atomic_output, scratch_folder
from ..models.deploy import INPUT_PERCENTILES_KEY, DeployBundle
from .source import load_export_source

OPSET = 17
#: Batch, height and width of the input and output are left to the caller.
DYNAMIC_AXES = {0: "batch", 2: "height", 3: "width"}


class RoadProbability(nn.Module):
    """Wraps a 2-class network so the graph itself outputs the road probability.

    Input: standardised (N, C, H, W) float32 ((pixel / 255 - mean) / std, what Deepness
    feeds). Output: (N, 1, H, W) road probability. A single-channel output is what Deepness
    treats as a sigmoid-like road probability to threshold with ``seg_thresh``.
    """

    def __init__(self, model: nn.Module) -> None:
        """Wrap ``model`` (logits (N, 2, H, W))."""
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        """Road probability (N, 1, H, W)."""
        logits: Tensor = self.model(x)
        return logits.softmax(dim=1)[:, -1:]


def deepness_metadata(
    bundle: DeployBundle, tile_size: int, overlap_percent: int, threshold: float
) -> dict[str, str]:
    """Deepness's ``custom_metadata_map``, every value JSON-encoded.

    Deepness's code reads ``tile_size`` while its docs say ``tiles_size``: both are written.
    roadkd's own keys (Deepness ignores them): ``roadkd_model`` (the architecture) and, when
    the model records them, ``roadkd_input_percentiles`` (the training imagery's per-band
    2 and 98 percentiles in 0-255 input units, which roadkd stretches 16-bit and float
    scenes onto).
    """
    values: dict[str, Any] = {
        "model_type": "Segmentor",
        "class_names": ["road"],
        "resolution": round(bundle.resolution_m * 100, 4),  # cm/px
        "tile_size": tile_size,
        "tiles_size": tile_size,
        "tiles_overlap": overlap_percent,
        "standardization_mean": list(bundle.mean),
        "standardization_std": list(bundle.std),
        "seg_thresh": threshold,
        "roadkd_model": bundle.config.to_dict(),
    }
    if bundle.input_percentiles is not None:
        values[INPUT_PERCENTILES_KEY] = bundle.input_percentiles.to_dict()
    return {key: json.dumps(value) for key, value in values.items()}


def onnx_graph(
    bundle: DeployBundle, tile_size: int, overlap_percent: int, threshold: float
) -> onnx.ModelProto:
    """The bundle's network as a checked ONNX graph with roadkd's and Deepness's metadata.

    Args:
        bundle: the network and its facts.
        tile_size: tile size to advertise; the graph takes any tile size (and batch).
        overlap_percent: tile overlap Deepness should use, in percent.
        threshold: road probability threshold Deepness should use.

    Returns:
        The graph.
    """
    wrapper = RoadProbability(bundle.model.eval()).eval()
    example = torch.zeros(1, bundle.config.in_channels, tile_size, tile_size)
    with scratch_folder("onnx") as scratch:
        path = Path(scratch) / "model.onnx"
        torch.onnx.export(
            wrapper,
            (example,),
            str(path),
            input_names=["image"],
            output_names=["road_probability"],
            # Any batch and tile size: predict --tile and Deepness choose the tile.
            dynamic_axes={name: DYNAMIC_AXES for name in ("image", "road_probability")},
            opset_version=OPSET,
            dynamo=False,
        )
        graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    for key, value in deepness_metadata(bundle, tile_size, overlap_percent, threshold).items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    return graph


def export_onnx(
    model: str | Path,
    out: str | Path,
    tile_size: int | None = None,
    overlap_percent: int = 15,
    threshold: float = 0.5,
) -> Path:
    """Export the deployable network of a checkpoint to ONNX.

    Args:
        model: roadkd checkpoint, deploy bundle or safetensors export.
        out: ``.onnx`` file to write.
        tile_size: tile size to advertise (default: the training tile); the graph takes any
            tile size (and batch).
        overlap_percent: tile overlap Deepness should use, in percent.
        threshold: road probability threshold Deepness should use.

    Returns:
        The ONNX path.

    Raises:
        RoadkdError: for a bad checkpoint or output path.
    """
    check_onnx_output(out)
    bundle = load_export_source(model)
    graph = onnx_graph(bundle, tile_size or bundle.tile_size, overlap_percent, threshold)
    with atomic_output(out) as tmp:
        onnx.save(graph, str(tmp))
    return Path(out)


def check_onnx_output(out: str | Path) -> None:
    """Refuse an export path that does not end in ``.onnx``.

    Raises:
        RoadkdError: naming the path.
    """
    if Path(out).suffix.lower() != ".onnx":
        raise RoadkdError(f"cannot write {out}: the export must end in .onnx")
