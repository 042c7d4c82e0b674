"""Segmentation networks: a factory over segmentation-models-pytorch and the deploy format."""

from .deploy import DeployBundle, load_bundle, save_bundle
from .factory import ModelConfig, build_model, encoder_channels, forward_with_features

__all__ = [
    "DeployBundle",
    "ModelConfig",
    "build_model",
    "encoder_channels",
    "forward_with_features",
    "load_bundle",
    "save_bundle",
]
