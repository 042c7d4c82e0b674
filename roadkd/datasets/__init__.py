"""Datasets: TorchGeo rasters, the synthetic scene generator and the RoadNet importer."""

from .layout import MASK_KINDS, image_path, mask_path, read_splits, write_scene, write_splits
from .road_imagery import RoadImagery
from .road_mask import RoadMask
from .roadnet_release import convert_roadnet_release, official_split, red_label
from .synthetic import SyntheticScene, default_split, generate_scene, write_synthetic_dataset

__all__ = [
    "MASK_KINDS",
    "RoadImagery",
    "RoadMask",
    "SyntheticScene",
    "convert_roadnet_release",
    "default_split",
    "generate_scene",
    "image_path",
    "mask_path",
    "official_split",
    "read_splits",
    "red_label",
    "write_scene",
    "write_splits",
    "write_synthetic_dataset",
]
