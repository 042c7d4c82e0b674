"""Segmentation networks: a factory over segmentation-models-pytorch and the deploy format."""

from .checkpoint import read_checkpoint
from .config import ModelConfig, as_model_config
from .deploy import DeployBundle, load_bundle, save_bundle
from .factory import build_model, encoder_channels, forward_with_features
from .teachers import load_frozen_teachers

__all__ = [
    "DeployBundle",
    "ModelConfig",
    "as_model_config",
    "build_model",
    "encoder_channels",
    "forward_with_features",
    "load_bundle",
    "load_frozen_teachers",
    "read_checkpoint",
    "save_bundle",
]
