"""Seeded split of the training area into labelled and unlabelled blocks.

SSLKD's label scarcity is simulated by keeping labels only on a share of the training
area. Splitting by blocks (not by random pixels or overlapping patches) guarantees that no
labelled patch shares a pixel with the unlabelled stream. Each scene is cut on its own
pixel grid into blocks of at least ``block_px`` (partial edges are shared out among the
blocks of the row or column, never dropped), and blocks are picked until their area is as
close as it can be to the nominal share of the whole training area: the realised share is
what :attr:`BlockSplit.labeled_share` reports.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from ..grid import block_edges

#: File in the run folder (the trainer's ``default_root_dir``) describing the labelled split.
SPLIT_FILE = "data_split.json"

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class BlockLayout:
    """A scene cut into a grid of blocks on its own pixel grid.

    Attributes:
        bounds: (xmin, ymin, xmax, ymax) of the scene in CRS units.
        res: pixel size in CRS units.
        cols: pixel offsets of the block edges from the left, 0 ... width.
        rows: pixel offsets of the block edges from the top, 0 ... height.
    """

    bounds: Box
    res: float
    cols: tuple[int, ...]
    rows: tuple[int, ...]

    @property
    def shape(self) -> tuple[int, int]:
        """Blocks per column and per row: (rows, cols)."""
        return len(self.rows) - 1, len(self.cols) - 1

    def block_box(self, row: int, col: int) -> Box:
        """Block (row, col) as (xmin, ymin, xmax, ymax) in CRS units."""
        xmin, _, _, ymax = self.bounds
        return (
            xmin + self.cols[col] * self.res,
            ymax - self.rows[row + 1] * self.res,
            xmin + self.cols[col + 1] * self.res,
            ymax - self.rows[row] * self.res,
        )

    def block_pixels(self, row: int, col: int) -> int:
        """Number of pixels of block (row, col)."""
        return (self.rows[row + 1] - self.rows[row]) * (self.cols[col + 1] - self.cols[col])


def tile_scene(bounds: Box, res: float, block_px: int) -> BlockLayout:
    """Cut a scene into blocks of at least ``block_px`` pixels a side, edges included.

    Args:
        bounds: (xmin, ymin, xmax, ymax) of the scene.
        res: pixel size in CRS units.
        block_px: smallest block side in pixels.

    Returns:
        The scene's block grid.
    """
    xmin, ymin, xmax, ymax = bounds
    width, height = round((xmax - xmin) / res), round((ymax - ymin) / res)
    return BlockLayout(bounds, res, block_edges(width, block_px), block_edges(height, block_px))


@dataclass(frozen=True)
class BlockSplit:
    """Training scenes cut into blocks, each block labelled or unlabelled.

    Attributes:
        scenes: the block grid of every training scene.
        labeled_cells: the labelled blocks as (scene index, row, col).
    """

    scenes: tuple[BlockLayout, ...]
    labeled_cells: frozenset[tuple[int, int, int]]

    def _cells(self) -> list[tuple[int, int, int]]:
        return [
            (s, r, c)
            for s, grid in enumerate(self.scenes)
            for r in range(grid.shape[0])
            for c in range(grid.shape[1])
        ]

    @property
    def labeled(self) -> tuple[Box, ...]:
        """The labelled blocks as boxes."""
        return tuple(
            self.scenes[s].block_box(r, c) for s, r, c in self._cells() if (s, r, c) in self
        )

    @property
    def unlabeled(self) -> tuple[Box, ...]:
        """The unlabelled blocks as boxes."""
        return tuple(
            self.scenes[s].block_box(r, c) for s, r, c in self._cells() if (s, r, c) not in self
        )

    def __contains__(self, cell: object) -> bool:
        """Whether a (scene, row, col) block is labelled."""
        return cell in self.labeled_cells

    def allowed(self, scene: int, labeled: bool) -> np.ndarray:
        """(rows, cols) boolean map of the scene's labelled (or unlabelled) blocks."""
        rows, cols = self.scenes[scene].shape
        grid = np.zeros((rows, cols), dtype=bool)
        for s, r, c in self.labeled_cells:
            if s == scene:
                grid[r, c] = True
        return grid if labeled else ~grid

    @property
    def labeled_area(self) -> BaseGeometry:
        """Union of the labelled blocks."""
        return shapely.union_all([shapely.box(*b) for b in self.labeled])

    @property
    def unlabeled_area(self) -> BaseGeometry:
        """Union of the unlabelled blocks."""
        return shapely.union_all([shapely.box(*b) for b in self.unlabeled])

    @property
    def total_pixels(self) -> int:
        """Pixels of the training scenes (every one of them can be sampled)."""
        return sum(self.scenes[s].block_pixels(r, c) for s, r, c in self._cells())

    @property
    def labeled_pixels(self) -> int:
        """Pixels of the labelled blocks."""
        return sum(self.scenes[s].block_pixels(r, c) for s, r, c in self.labeled_cells)

    @property
    def labeled_share(self) -> float:
        """The realised share of the training area that carries labels."""
        return self.labeled_pixels / max(1, self.total_pixels)


def split_blocks(
    scene_bounds: Sequence[Box],
    res: float,
    block_px: int,
    labeled_ratio: float,
    seed: int,
) -> BlockSplit:
    """Label a seeded set of blocks whose area is closest to ``labeled_ratio`` of the total.

    Blocks are taken in a seeded random order until their area reaches the nominal share;
    the last one is kept only if that brings the share closer to it.

    Args:
        scene_bounds: bounds of each training scene.
        res: pixel size in CRS units (all scenes share it).
        block_px: smallest block side in pixels.
        labeled_ratio: nominal share of the area to keep labels on, in (0, 1].
        seed: seed of the choice; the same seed gives the same split.

    Returns:
        The split; at least one block is labelled. With ratio 1 every block is labelled.
    """
    scenes = tuple(tile_scene(bounds, res, block_px) for bounds in scene_bounds)
    cells = [
        (s, r, c)
        for s, grid in enumerate(scenes)
        for r in range(grid.shape[0])
        for c in range(grid.shape[1])
    ]
    if not cells:
        return BlockSplit(scenes, frozenset())
    pixels = np.array([scenes[s].block_pixels(r, c) for s, r, c in cells], dtype=float)
    order = np.random.default_rng(seed).permutation(len(cells))
    cumulative = np.cumsum(pixels[order])
    target = labeled_ratio * cumulative[-1]
    count = min(len(cells), int(np.searchsorted(cumulative, target - 1e-9)) + 1)
    if count > 1 and abs(cumulative[count - 2] - target) <= abs(cumulative[count - 1] - target):
        count -= 1
    return BlockSplit(scenes, frozenset(cells[i] for i in order[:count].tolist()))


def read_split_summary(run: str | Path) -> dict[str, Any] | None:
    """The labelled split's facts a training run wrote (see :meth:`RoadDataModule.split_summary`).

    Args:
        run: the run folder (the trainer's ``default_root_dir``).

    Returns:
        The facts, or None if the run wrote none (it has not started, or predates them).
    """
    path = Path(run) / SPLIT_FILE
    if not path.is_file():
        return None
    summary: dict[str, Any] = json.loads(path.read_text())
    return summary
