"""Seeded split of the training area into labelled and unlabelled blocks.

SSLKD's label scarcity is simulated by keeping labels only on a fraction of the training
area. Splitting by blocks (not by random pixels or overlapping patches) guarantees that no
labelled patch shares a pixel with the unlabelled stream.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True)
class BlockSplit:
    """Training blocks split into labelled and unlabelled parts (boxes in CRS units)."""

    labeled: tuple[tuple[float, float, float, float], ...]
    unlabeled: tuple[tuple[float, float, float, float], ...]

    @property
    def labeled_area(self) -> BaseGeometry:
        """Union of the labelled blocks."""
        return shapely.union_all([shapely.box(*b) for b in self.labeled])

    @property
    def unlabeled_area(self) -> BaseGeometry:
        """Union of the unlabelled blocks."""
        return shapely.union_all([shapely.box(*b) for b in self.unlabeled])


def tile_blocks(
    bounds: tuple[float, float, float, float], block_m: float
) -> list[tuple[float, float, float, float]]:
    """Cut a scene's bounds into whole blocks of ``block_m`` metres (partial edges dropped).

    Args:
        bounds: (xmin, ymin, xmax, ymax) of a scene.
        block_m: block side in CRS units.

    Returns:
        The blocks as (xmin, ymin, xmax, ymax), row by row from the top.
    """
    xmin, ymin, xmax, ymax = bounds
    cols = int((xmax - xmin + 1e-6) // block_m)
    rows = int((ymax - ymin + 1e-6) // block_m)
    return [
        (xmin + c * block_m, ymax - (r + 1) * block_m, xmin + (c + 1) * block_m, ymax - r * block_m)
        for r in range(rows)
        for c in range(cols)
    ]


def split_blocks(
    scene_bounds: Sequence[tuple[float, float, float, float]],
    block_m: float,
    labeled_ratio: float,
    seed: int,
) -> BlockSplit:
    """Pick a seeded ``labeled_ratio`` share of the training blocks as labelled.

    Args:
        scene_bounds: bounds of each training scene.
        block_m: block side in CRS units.
        labeled_ratio: share of blocks to keep labels on, in (0, 1].
        seed: seed of the choice; the same seed gives the same split.

    Returns:
        The split; at least one block is labelled. With ratio 1 every block is labelled and
        the unlabelled part is empty.
    """
    blocks = [b for bounds in scene_bounds for b in tile_blocks(bounds, block_m)]
    n_labeled = min(len(blocks), max(1, round(labeled_ratio * len(blocks))))
    order = np.random.default_rng(seed).permutation(len(blocks))
    chosen = set(order[:n_labeled].tolist())
    return BlockSplit(
        labeled=tuple(b for i, b in enumerate(blocks) if i in chosen),
        unlabeled=tuple(b for i, b in enumerate(blocks) if i not in chosen),
    )
