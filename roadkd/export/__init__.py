"""Export of trained students for deployment: ONNX (onnxruntime, QGIS Deepness), safetensors."""

from .onnx import RoadProbability, deepness_metadata, export_onnx
from .safetensors import export_safetensors

__all__ = ["RoadProbability", "deepness_metadata", "export_onnx", "export_safetensors"]
