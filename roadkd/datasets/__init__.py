"""Datasets: TorchGeo rasters, the synthetic scene generator and the RoadNet importer."""

from .layout import MASK_KINDS, image_path, mask_path, read_splits, write_scene, write_splits
from .road_imagery import RoadImagery
from .road_mask import RoadMask
from .synthetic import SyntheticScene, generate_scene, write_synthetic_dataset

__all__ = [
    "MASK_KINDS",
    "RoadImagery",
    "RoadMask",
    "SyntheticScene",
    "generate_scene",
    "image_path",
    "mask_path",
    "read_splits",
    "write_scene",
    "write_splits",
    "write_synthetic_dataset",
]
