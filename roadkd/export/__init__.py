"""Export of trained students for deployment: ONNX (onnxruntime, QGIS Deepness), safetensors.

The ONNX half needs the ``onnx`` extra and is imported on first use, so the safetensors
export works on a core install.
"""

from typing import TYPE_CHECKING, Any

from ..errors import RoadkdError
from .safetensors import export_safetensors

if TYPE_CHECKING:
    from .onnx import RoadProbability, deepness_metadata, export_onnx

__all__ = ["RoadProbability", "deepness_metadata", "export_onnx", "export_safetensors"]
_ONNX_NAMES = {"RoadProbability", "deepness_metadata", "export_onnx"}


def __getattr__(name: str) -> Any:
    """Import the ONNX exporter on first use, with a clear error when onnx is missing."""
    if name not in _ONNX_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from . import onnx
    except ModuleNotFoundError as err:
        raise RoadkdError(f"ONNX export needs {err.name}: pip install 'roadkd[onnx]'") from err
    return getattr(onnx, name)
