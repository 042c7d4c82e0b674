"""Export of trained students for deployment (ONNX for onnxruntime and QGIS Deepness)."""

from .onnx import RoadProbability, deepness_metadata, export_onnx

__all__ = ["RoadProbability", "deepness_metadata", "export_onnx"]
