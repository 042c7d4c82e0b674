"""Export of trained students for deployment: ONNX (float or int8), safetensors.

ONNX runs on onnxruntime and in QGIS's Deepness; the int8 model is calibrated on the user's
imagery.

The ONNX half needs the ``onnx`` extra and is imported on first use, so the safetensors
export works on a core install.
"""

import importlib
from typing import TYPE_CHECKING, Any

from ..errors import RoadkdError
from .safetensors import export_safetensors

if TYPE_CHECKING:
    from .int8 import Int8Check, export_int8
    from .onnx import RoadProbability, deepness_metadata, export_onnx

__all__ = [
    "Int8Check",
    "RoadProbability",
    "deepness_metadata",
    "export_int8",
    "export_onnx",
    "export_safetensors",
]
_ONNX_MODULES = {
    "RoadProbability": "onnx",
    "deepness_metadata": "onnx",
    "export_onnx": "onnx",
    "Int8Check": "int8",
    "export_int8": "int8",
}


def __getattr__(name: str) -> Any:
    """Import the ONNX exporter on first use, with a clear error when onnx is missing."""
    if name not in _ONNX_MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(f".{_ONNX_MODULES[name]}", __name__)
    except ModuleNotFoundError as err:
        raise RoadkdError(f"ONNX export needs {err.name}: pip install 'roadkd[onnx]'") from err
    return getattr(module, name)
