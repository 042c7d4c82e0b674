"""An int8 ONNX export, calibrated on the user's imagery and checked against the float model.

ONNX Runtime's static quantisation in QDQ form (the form its CPU kernels are written for):
int8 weights with a scale per output channel, uint8 activations whose ranges are the
minimum and maximum met on the calibration tiles (:mod:`roadkd.export.calibration`). The
graph is first optimised and its shapes inferred (``quant_pre_process``), so that
batch-norm and activation nodes fold into the convolutions they follow and quantise with
them. On a 2-core AMD EPYC (with VNNI) the demo student ran 1.9-2.4x as fast as the float
graph (``benchmarks/cpu_inference.py``).

Quantisation can cost accuracy, so the export checks itself: the quantised and the float
model predict the held-out tiles, and their road masks (at the export's threshold) must
overlap by a road IoU of at least :data:`MIN_ROAD_IOU`, else nothing is written (unless
forced, with a warning). The file carries the float export's metadata (Deepness's and
roadkd's, input percentiles and threshold included) and, under ``roadkd_int8``, how it was
calibrated and how it compared.
"""

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from ..errors import RoadkdError, brief_reason
from ..imagery import Log, ReadOptions
from ..io import atomic_output, scratch_folder
from ..models.deploy import DeployBundle
from ..normalization import normalize
from .calibration import ImageryTiles, calibration_scenes, draw_tiles
from .onnx import check_onnx_output, onnx_graph
from .source import load_export_source

#: The least road IoU of the int8 model against the float model on the held-out tiles.
MIN_ROAD_IOU = 0.98
#: Metadata key of the int8 export's calibration and self-check (JSON).
INT8_KEY = "roadkd_int8"
#: Tiles per run of calibration and of the self-check (the calibrator keeps only each
#: tensor's minimum and maximum of a run: memory is bounded by a run).
CALIBRATION_BATCH = 4


@dataclass(frozen=True)
class Int8Check:
    """How an int8 export was calibrated and how it compares with its float model.

    Attributes:
        road_iou: IoU of the two models' road masks on the held-out tiles (1.0 when
            neither finds road there).
        agreement: share of held-out pixels given the same class.
        check_tiles: held-out tiles compared.
        calibration_tiles: tiles calibrated on.
        scenes: scenes the tiles came from.
        tile: tile side in pixels.
    """

    road_iou: float
    agreement: float
    check_tiles: int
    calibration_tiles: int
    scenes: int
    tile: int

    def summary(self) -> str:
        """One line for the export's summary."""
        return (
            f"int8, calibrated on {self.calibration_tiles} tiles of {self.tile} px from "
            f"{self.scenes} scene(s); against the float model on {self.check_tiles} held-out "
            f"tiles: road IoU {self.road_iou:.3f}, pixel agreement {self.agreement:.2%}"
        )


class _Tiles(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime is untyped
    """Feeds standardised calibration tiles to the calibrator, a few at a time."""

    def __init__(self, tiles: np.ndarray, input_name: str) -> None:
        self.batches = iter(
            {input_name: tiles[first : first + CALIBRATION_BATCH]}
            for first in range(0, len(tiles), CALIBRATION_BATCH)
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def standardized(pixels: np.ndarray, bundle: DeployBundle) -> np.ndarray:
    """Raw 0-255 tiles as the graph takes them ((pixel / 255 - mean) / std, float32)."""
    return normalize(torch.from_numpy(pixels), bundle.mean, bundle.std).numpy()


def quantize(graph: onnx.ModelProto, calibration: np.ndarray, folder: Path) -> onnx.ModelProto:
    """Quantise a float graph statically (QDQ, per-channel int8 weights, uint8 activations).

    Args:
        graph: the float graph (one input).
        calibration: standardised (n, bands, tile, tile) tiles to calibrate on.
        folder: a scratch folder for onnxruntime's intermediate files.

    Returns:
        The quantised graph (without metadata).
    """
    source = folder / "float.onnx"
    prepared, quantized = folder / "prepared.onnx", folder / "int8.onnx"
    onnx.save(graph, str(source))  # from a file: given a graph, the pre-processing edits it
    # Symbolic shape inference cannot follow the dynamic tile size through the decoder's
    # resizes; ONNX's own shape inference and the graph optimisation are what matter here.
    quant_pre_process(source, prepared, skip_symbolic_shape=True)
    quantize_static(
        prepared,
        quantized,
        _Tiles(calibration, graph.graph.input[0].name),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )
    return onnx.load(str(quantized))


def road_agreement(
    float_graph: onnx.ModelProto,
    int8_graph: onnx.ModelProto,
    tiles: np.ndarray,
    valid: np.ndarray,
    threshold: float,
) -> tuple[float, float]:
    """Road IoU and pixel agreement of two graphs' road masks on tiles.

    Args:
        float_graph: the reference graph.
        int8_graph: the graph compared with it.
        tiles: standardised (n, bands, tile, tile) tiles.
        valid: bool (n, tile, tile) pixels to compare.
        threshold: road probability threshold of the masks.

    Returns:
        (road IoU, share of valid pixels of the same class); IoU 1.0 when neither finds road.
    """
    masks = []
    for graph in (float_graph, int8_graph):
        session = ort.InferenceSession(
            graph.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        name = session.get_inputs()[0].name
        probability = np.concatenate(
            [
                session.run(None, {name: tiles[first : first + CALIBRATION_BATCH]})[0][:, 0]
                for first in range(0, len(tiles), CALIBRATION_BATCH)
            ]
        )
        masks.append((probability >= threshold)[valid])
    reference, quantized = masks
    union = int((reference | quantized).sum())
    iou = 1.0 if union == 0 else int((reference & quantized).sum()) / union
    return iou, float((reference == quantized).mean())


def export_int8(
    model: str | Path,
    out: str | Path,
    calibration: Sequence[str | Path],
    tile_size: int | None = None,
    overlap_percent: int = 15,
    threshold: float = 0.5,
    force: bool = False,
    options: ReadOptions | None = None,
    log: Log | None = None,
) -> Int8Check:
    """Export a checkpoint's network as an int8 ONNX model calibrated on imagery.

    Args:
        model: roadkd checkpoint, deploy bundle or safetensors export.
        out: ``.onnx`` file to write.
        calibration: a dataset folder in roadkd's layout, or scenes (files or folders).
        tile_size: tile size to advertise and to calibrate on (default: the training tile).
        overlap_percent: tile overlap Deepness should use, in percent.
        threshold: road probability threshold Deepness and the self-check use.
        force: write the model even if it falls short of :data:`MIN_ROAD_IOU` (with a
            warning to ``log``).
        options: how the calibration scenes' bands and pixels are read.
        log: receives warnings.

    Returns:
        How it was calibrated and how it compares with the float model.

    Raises:
        RoadkdError: for a bad checkpoint or output path, calibration imagery that is
            missing, cannot be read for the model (e.g. other bands) or too small, or an int8
            model whose road IoU against the float model is below :data:`MIN_ROAD_IOU`.
    """
    check_onnx_output(out)
    bundle = load_export_source(model)
    tile = tile_size or bundle.tile_size
    tiles = draw_tiles(calibration_scenes(calibration), bundle, tile, options)
    float_graph = onnx_graph(bundle, tile, overlap_percent, threshold)
    with scratch_folder("int8") as scratch:
        try:
            int8_graph = quantize(
                float_graph, standardized(tiles.calibration, bundle), Path(scratch)
            )
        except Exception as err:  # onnxruntime's quantiser raises many types
            raise RoadkdError(f"cannot quantise {model} ({brief_reason(err)})") from err
    check = _self_check(float_graph, int8_graph, tiles, bundle, threshold, tile)
    if check.road_iou < MIN_ROAD_IOU:
        shortfall = (
            f"the int8 model's road IoU against the float model is {check.road_iou:.3f} on "
            f"{check.check_tiles} held-out tiles, below {MIN_ROAD_IOU}"
        )
        if not force:
            raise RoadkdError(
                f"{shortfall}: not written (use the float export, or --force to write it anyway)"
            )
        if log is not None:
            log(f"Warning: {shortfall}; written as --force asks")
    # The float export's metadata, and nothing else (the quantiser adds its own notes).
    del int8_graph.metadata_props[:]
    int8_graph.metadata_props.extend(float_graph.metadata_props)
    entry = int8_graph.metadata_props.add()
    entry.key, entry.value = INT8_KEY, json.dumps(asdict(check))
    with atomic_output(out) as tmp:
        onnx.save(int8_graph, str(tmp))
    return check


def _self_check(
    float_graph: onnx.ModelProto,
    int8_graph: onnx.ModelProto,
    tiles: ImageryTiles,
    bundle: DeployBundle,
    threshold: float,
    tile: int,
) -> Int8Check:
    """Compare the int8 graph with the float graph on the held-out tiles."""
    iou, agreement = road_agreement(
        float_graph, int8_graph, standardized(tiles.check, bundle), tiles.check_valid, threshold
    )
    return Int8Check(
        road_iou=iou,
        agreement=agreement,
        check_tiles=len(tiles.check),
        calibration_tiles=len(tiles.calibration),
        scenes=tiles.scenes,
        tile=tile,
    )
