"""Lightning datamodules over roadkd's dataset layout."""

from .labeled_split import BlockLayout, BlockSplit, split_blocks, tile_scene
from .roads import RoadDataModule
from .samplers import BlockPatchSampler, SceneGridSampler

__all__ = [
    "BlockLayout",
    "BlockPatchSampler",
    "BlockSplit",
    "RoadDataModule",
    "SceneGridSampler",
    "split_blocks",
    "tile_scene",
]
