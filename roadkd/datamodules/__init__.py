"""Lightning datamodules over roadkd's dataset layout."""

from .labeled_split import BlockSplit, split_blocks, tile_blocks
from .roads import RoadDataModule

__all__ = ["BlockSplit", "RoadDataModule", "split_blocks", "tile_blocks"]
