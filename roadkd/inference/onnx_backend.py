"""Run an exported student with onnxruntime: no PyTorch model code or GPU needed.

An ONNX file is checked before onnxruntime opens it: it must carry the metadata
``roadkd export`` writes, well-formed, and any weights it keeps in external files must lie
in the model's own folder (a crafted file could otherwise make onnxruntime read, say,
``/etc/shadow`` or a file on a network share as weights).
"""

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import FunctionProto, GraphProto, TensorProto
from torch import Tensor

from ..device import select_device
from ..errors import RoadkdError, brief_reason
from ..imagery import BandPercentiles
from ..io import require_file
from ..models.config import ModelConfig, as_model_config
from ..models.deploy import INPUT_PERCENTILES_KEY, DataFacts
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


def check_onnx_model(path: str | Path) -> OnnxFacts:
    """Check an ONNX file before it is run and return its roadkd facts.

    Args:
        path: the ``.onnx`` file.

    Returns:
        The facts from its metadata.

    Raises:
        RoadkdError: if the file is missing or not ONNX, is not a roadkd export (metadata
            missing or malformed), or refers to external data outside its folder.
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
    inputs = [
        i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}
    ]
    dims = inputs[0].type.tensor_type.shape.dim if inputs else []
    if len(dims) != 4 or dims[1].dim_value not in (0, facts.config.in_channels):
        raise RoadkdError(
            f"{p} is not a roadkd export: its input is not (N, {facts.config.in_channels}, H, W)"
        )
    return facts


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
        values: dict[str, Any] = {key: json.loads(value) for key, value in metadata.items()}
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


class OnnxBackend:
    """An ONNX export of ``roadkd export`` behind the inference backend interface."""

    def __init__(self, path: str | Path, device: str = "auto") -> None:
        """Check the model, then open it (CUDA provider when asked for and available).

        Raises:
            RoadkdError: if the file is missing, not ONNX, not a roadkd export or refers to
                external data outside its folder.
        """
        import onnxruntime as ort

        p = Path(path)
        facts = check_onnx_model(p)
        self.device = select_device(device)
        providers = ["CPUExecutionProvider"]
        if self.device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(p), providers=providers)
        except Exception as err:  # onnxruntime raises its own exception types
            raise RoadkdError(
                f"cannot read model {p}: not a valid ONNX file ({brief_reason(err)})"
            ) from err
        self.mean, self.std = facts.data.mean, facts.data.std
        self.tile_size = facts.data.tile_size
        self.resolution_m = facts.data.resolution_m
        self.input_percentiles = facts.data.input_percentiles
        self.in_channels = facts.config.in_channels
        self.input_name = self.session.get_inputs()[0].name

    def predict(self, batch: Tensor) -> Tensor:
        """Map (N, C, H, W) raw 0-255 pixels to (N, H, W) float32 road probability."""
        x = normalize(batch.cpu(), self.mean, self.std).numpy().astype(np.float32)
        (prob,) = self.session.run(None, {self.input_name: x})
        return torch.from_numpy(prob[:, 0])
