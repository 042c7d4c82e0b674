"""Whole-scene inference: backends, tiled and blended prediction, previews."""

from .backends import Backend, TorchBackend, load_backend
from .predict import SceneSummary, check_scene, predict_scene
from .preview import write_preview

__all__ = [
    "Backend",
    "SceneSummary",
    "TorchBackend",
    "check_scene",
    "load_backend",
    "predict_scene",
    "write_preview",
]
