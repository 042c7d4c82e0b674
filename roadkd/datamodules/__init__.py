"""Lightning datamodules over roadkd's dataset layout."""

from .labeled_split import BlockSplit, SceneGrid, split_blocks, tile_scene
from .roads import RoadDataModule
from .samplers import BlockPatchSampler, SceneGridSampler

__all__ = [
    "BlockPatchSampler",
    "BlockSplit",
    "RoadDataModule",
    "SceneGrid",
    "SceneGridSampler",
    "split_blocks",
    "tile_scene",
]
