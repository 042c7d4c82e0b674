"""Whole-scene inference: from a model to a probability raster (backends, tiled, blended)."""

from .backends import Backend, TorchBackend, load_backend
from .predict import SceneSummary, check_scene, predict_scene

__all__ = [
    "Backend",
    "SceneSummary",
    "TorchBackend",
    "check_scene",
    "load_backend",
    "predict_scene",
]
