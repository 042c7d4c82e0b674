"""Run an exported student with onnxruntime: no PyTorch model code or GPU needed.

An ONNX file is checked before onnxruntime opens it: it must carry the metadata
``roadkd export`` writes, well-formed, and any weights it keeps in external files must lie
in the model's own folder (a crafted file could otherwise make onnxruntime read, say,
``/etc/shadow`` or a file on a network share as weights). Its one input must be what
roadkd feeds, float32 (N, C, H, W) with the bands of its metadata, and its output one road
probability channel; an input fixed to one tile size (an older export, a foreign model)
is recorded, so a tile it cannot take is refused before any work, and a fixed batch size is
served by filling batches up to it.
"""

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import FunctionProto, GraphProto, TensorProto
from torch import Tensor

from ..device import select_device, threads_text
from ..errors import RoadkdError, brief_reason
from ..imagery import BandPercentiles
from ..io import require_file
from ..models.config import ModelConfig, as_model_config
from ..models.deploy import INPUT_PERCENTILES_KEY, DataFacts, DataFactsView
from ..normalization import normalize


@dataclass(frozen=True)
class OnnxFacts:
    """What a roadkd ONNX export says about its network (from its metadata).

    Attributes:
        config: the exported network's architecture (``roadkd_model``).
        data: normalisation, tile size, resolution and input percentiles it was trained
            and exported with.
    """

    config: ModelConfig
    data: DataFacts
    fixed_batch: int | None = None
    fixed_side: int | None = None
    precision: str = "float32"


#: Operators that make a graph a quantised one (QDQ pairs or integer kernels).
QUANTISED_OPS = frozenset(
    {
        "QuantizeLinear",
        "DequantizeLinear",
        "DynamicQuantizeLinear",
        "QLinearConv",
        "QLinearMatMul",
        "ConvInteger",
        "MatMulInteger",
    }
)

#: The metadata roadkd reads from an ONNX file (each value JSON-encoded).
ROADKD_KEYS = (
    "roadkd_model",
    "tile_size",
    "standardization_mean",
    "standardization_std",
    "resolution",
    INPUT_PERCENTILES_KEY,
)


def check_onnx_model(path: str | Path) -> OnnxFacts:
    """Check an ONNX file before it is run and return its roadkd facts.

    Args:
        path: the ``.onnx`` file.

    Returns:
        The facts from its metadata.

    Raises:
        RoadkdError: if the file is missing or not ONNX, is not a roadkd export (metadata
            missing or malformed), takes or gives other tensors than roadkd's (see
            :func:`tensor_shapes`), or refers to external data outside its folder.
    """
    p = require_file(path, "model")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as err:  # protobuf raises its own DecodeError and friends
        raise RoadkdError(
            f"cannot read model {p}: not a valid ONNX file ({brief_reason(err)})"
        ) from err
    folder = p.parent.resolve()
    for tensor in _all_tensors(model.graph, model.functions):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        location = {entry.key: entry.value for entry in tensor.external_data}.get("location", "")
        target = (folder / location).resolve()
        if not location or not target.is_relative_to(folder):
            raise RoadkdError(
                f"{p} refuses to load: its weights {tensor.name!r} refer to {location!r}, "
                f"outside the model's folder {folder}"
            )
    facts = roadkd_onnx_facts({entry.key: entry.value for entry in model.metadata_props}, p)
    batch, side = tensor_shapes(model.graph, facts.config.in_channels, p)
    quantised = any(node.op_type in QUANTISED_OPS for node in model.graph.node)
    return replace(
        facts, fixed_batch=batch, fixed_side=side, precision="int8" if quantised else "float32"
    )


def _fixed(dim: onnx.TensorShapeProto.Dimension) -> int | None:
    """A dimension's size when the graph fixes it, None when it is symbolic or unknown."""
    return dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else None


def tensor_shapes(graph: GraphProto, bands: int, source: Path) -> tuple[int | None, int | None]:
    """Check that a graph takes what roadkd feeds and gives what it reads.

    roadkd (and Deepness) feed one float32 (N, C, H, W) tensor of ``bands`` standardised
    bands and read an (N, 1, H, W) road probability.

    Args:
        graph: the model's graph.
        bands: the band count of its metadata.
        source: the file, for messages.

    Returns:
        The batch size and the (square) tile side the input is fixed to; None where any
        size is accepted.

    Raises:
        RoadkdError: naming what does not fit: the number of inputs, their element type,
            rank, layout or band count, a non-square fixed tile, or an output that is not one
            probability channel.
    """
    weights = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    wanted = f"one float32 (N, {bands}, H, W) image"
    if len(inputs) != 1:
        raise RoadkdError(f"{source} takes {len(inputs)} inputs; roadkd feeds {wanted}")
    tensor = inputs[0].type.tensor_type
    dims = [_fixed(d) for d in tensor.shape.dim]
    if tensor.elem_type != TensorProto.FLOAT:
        kind = TensorProto.DataType.Name(tensor.elem_type).lower()
        raise RoadkdError(f"{source} takes a {kind} input; roadkd feeds {wanted}")
    if len(dims) != 4:
        raise RoadkdError(f"{source} takes a {len(dims)}-d input; roadkd feeds {wanted}")
    if dims[1] not in (None, bands):
        if dims[3] == bands:
            raise RoadkdError(
                f"{source} takes channels-last (N, H, W, C) input; roadkd and Deepness feed "
                f"channels-first {wanted}"
            )
        raise RoadkdError(
            f"{source} takes {dims[1]} bands but its metadata says {bands}: roadkd feeds {wanted}"
        )
    if dims[2] is not None and dims[3] is not None and dims[2] != dims[3]:
        raise RoadkdError(
            f"{source} takes only {dims[3]}x{dims[2]} px tiles; roadkd's tiles are square"
        )
    output = graph.output[0].type.tensor_type if graph.output else None
    if output is None or (  # a graph may leave the output's shape unsaid: checked when run
        output.HasField("shape")
        and (len(output.shape.dim) != 4 or _fixed(output.shape.dim[1]) not in (None, 1))
    ):
        raise RoadkdError(
            f"{source} does not give one road probability channel (N, 1, H, W): "
            "export it with roadkd export"
        )
    side = dims[2] if dims[3] is None else dims[3]
    return dims[0], side


def roadkd_onnx_facts(metadata: Mapping[str, str], source: Path) -> OnnxFacts:
    """Parse and check the metadata ``roadkd export`` writes into an ONNX file.

    Args:
        metadata: the ONNX ``metadata_props`` as a mapping of JSON-encoded values.
        source: the file it came from, for messages.

    Returns:
        The facts.

    Raises:
        RoadkdError: "not a roadkd export" if a value is missing or malformed.
    """
    try:
        # Only roadkd's keys are read: other tools add their own, not always JSON.
        values: dict[str, Any] = {
            key: json.loads(metadata[key]) for key in ROADKD_KEYS if key in metadata
        }
        config = as_model_config(values["roadkd_model"])
        tile_size = values["tile_size"]
        if not isinstance(tile_size, int):
            raise ValueError(f"tile size {tile_size!r} is not a whole number")
        percentiles = values.get(INPUT_PERCENTILES_KEY)  # absent from older exports
        facts = DataFacts(
            tuple(float(m) for m in values["standardization_mean"]),
            tuple(float(s) for s in values["standardization_std"]),
            tile_size,
            float(values["resolution"]) / 100,
            None if percentiles is None else BandPercentiles.from_dict(percentiles),
        )
        if len(facts.mean) != config.in_channels:
            raise ValueError(f"mean/std do not have one value per band ({config.in_channels})")
    except KeyError as err:
        raise RoadkdError(
            f"{source} is not a roadkd export (no {err} metadata): export it with roadkd export"
        ) from err
    except (TypeError, ValueError, RoadkdError) as err:
        raise RoadkdError(
            f"{source} is not a roadkd export (malformed metadata: {brief_reason(err)}): "
            "export it with roadkd export"
        ) from err
    return OnnxFacts(config, facts)


def _all_tensors(
    graph: GraphProto, functions: Iterable[FunctionProto] = ()
) -> Iterator[TensorProto]:
    """Every tensor of a graph: initialisers and constants, in subgraphs and functions too."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    nodes = [*graph.node, *(node for function in functions for node in function.node)]
    for node in nodes:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("sparse_tensor"):
                yield from (attribute.sparse_tensor.values, attribute.sparse_tensor.indices)
            for subgraph in [
                *([attribute.g] if attribute.HasField("g") else []),
                *attribute.graphs,
            ]:
                yield from _all_tensors(subgraph)


class OnnxBackend(DataFactsView):
    """An ONNX export of ``roadkd export`` behind the inference backend interface."""

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None) -> None:
        """Check the model, then open it (CUDA provider when asked for and available).

        Args:
            path: the ``.onnx`` file.
            device: "auto", "cpu" or "cuda".
            threads: onnxruntime's intra-op threads on the CPU (None: as many as torch's,
                which follow ``OMP_NUM_THREADS`` as Dask sets it for its workers).

        Raises:
            RoadkdError: if the file is missing, not ONNX, not a roadkd export, takes or
                gives other tensors than roadkd's, or refers to external data outside its
                folder.
        """
        import onnxruntime as ort

        p = Path(path)
        facts = check_onnx_model(p)
        self.device = select_device(device)
        providers = ["CPUExecutionProvider"]
        if self.device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        # One parallel region at a time, as wide as the cores roadkd leaves the model.
        self.threads = threads or torch.get_num_threads()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle threads sleep rather than spin: between batches this process vectorises, and
        # other processes may share the cores (the int8 demo student on 2 busy cores: 4.4
        # MP/s sleeping, 2.5 spinning).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(p), options, providers=providers)
        except Exception as err:  # onnxruntime raises its own exception types
            raise RoadkdError(
                f"cannot read model {p}: not a valid ONNX file ({brief_reason(err)})"
            ) from err
        self.path = p
        self.fixed_batch, self.fixed_side = facts.fixed_batch, facts.fixed_side
        # a graph fixed to one tile side takes only that one
        self.data = replace(facts.data, tile_size=facts.fixed_side or facts.data.tile_size)
        self.in_channels = facts.config.in_channels
        self.precision = facts.precision
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def predict(self, batch: Tensor) -> Tensor:
        """Map (N, C, H, W) raw 0-255 pixels to (N, H, W) float32 road probability.

        A model fixed to a batch size gets batches filled up to it (with zeros).

        Raises:
            RoadkdError: if the model's input is fixed to another tile size, the graph fails
                on the batch, or its output is not one probability channel of the tile's size.
        """
        height, width = batch.shape[-2:]
        if self.fixed_side is not None and (height, width) != (self.fixed_side,) * 2:
            raise RoadkdError(
                f"{self.path} takes only {self.fixed_side}x{self.fixed_side} px tiles, not "
                f"{width}x{height}: use --tile {self.fixed_side}, or export the model again "
                "with roadkd export (any tile size)"
            )
        x = normalize(batch.cpu(), self.data.mean, self.data.std).numpy().astype(np.float32)
        step = self.fixed_batch or len(x)
        parts = [self._run(x[first : first + step], step) for first in range(0, len(x), step)]
        return torch.from_numpy(np.concatenate(parts))

    def _run(self, x: np.ndarray, batch: int) -> np.ndarray:
        """(n, H, W) probability of n <= ``batch`` tiles, run as ``batch`` (zeros fill it)."""
        filled = np.pad(x, ((0, batch - len(x)), (0, 0), (0, 0), (0, 0)))
        try:
            (prob,) = self.session.run([self.output_name], {self.input_name: filled})
        except Exception as err:  # onnxruntime's own types: a graph that cannot run this
            raise RoadkdError(
                f"model {self.path} cannot run a {filled.shape} batch ({brief_reason(err)})"
            ) from err
        if prob.shape != (batch, 1, *x.shape[2:]):
            raise RoadkdError(
                f"model {self.path} gave a {prob.shape} output for a {filled.shape} input: "
                "roadkd needs one road probability channel of the tile's size"
            )
        return np.asarray(prob[: len(x), 0], np.float32)

    def describe(self) -> str:
        """What runs the model: runtime, precision, device and threads, for the log."""
        provider = self.session.get_providers()[0].removesuffix("ExecutionProvider")
        threads = f", {threads_text(self.threads)}" if provider == "CPU" else ""
        return f"ONNX Runtime, {self.precision}, {provider}{threads}"
