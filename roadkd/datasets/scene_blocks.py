"""A user's scenes cut into blocks of their own, and the blocks shared out among splits.

Each block is written as a scene of its own (``<scene>_r<row>_c<col>``), so ``splits.json``
can hold it in train, val, test or unlabeled and the datamodule works unchanged.
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.errors import RasterioIOError
from rasterio.transform import array_bounds
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from ..datamodules.labeled_split import block_edges
from ..errors import RoadkdError
from ..ground import ground_resolution_m, planar_pixel_size
from ..imagery import (
    Log,
    OnPlannedGrid,
    ReadOptions,
    ScenePlan,
    plan_scene,
)
from ..io import require_file


@dataclass(frozen=True)
class SceneGrid(OnPlannedGrid):
    """A scene and the grid its training images are written on (the imagery reader's plan)."""

    name: str
    plan: ScenePlan

    @property
    def units_per_m(self) -> float:
        """CRS units per ground metre (1 in UTM; feet and Web Mercator differ)."""
        return planar_pixel_size(self.transform) / self.plan.resolution_m

    @property
    def footprint(self) -> BaseGeometry:
        """The grid's outline in its CRS."""
        return shapely.box(*array_bounds(self.height, self.width, self.transform))


@dataclass(frozen=True)
class Block:
    """A piece of a scene written as a scene of its own.

    Attributes:
        scene: the scene it is cut from.
        name: ``<scene>_r<row>_c<col>``.
        window: its pixels in the scene's output grid.
        footprint: its outline in the scene's CRS.
        labelled_share: share of its area inside the labelled area (1 wholly, 0 not at all).
    """

    scene: SceneGrid
    name: str
    window: Window
    footprint: BaseGeometry
    labelled_share: float

    @property
    def transform(self) -> Affine:
        """Affine transform of the block's own grid."""
        transform: Affine = rasterio.windows.transform(self.window, self.scene.transform)
        return transform

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return int(self.window.height), int(self.window.width)


def open_scene_grid(
    path: str | Path,
    resolution: float | None = None,
    options: ReadOptions | None = None,
    log: Log | None = None,
) -> SceneGrid:
    """Plan how the imagery reader brings a scene to training images (nothing is read yet).

    Args:
        path: any raster ``roadkd predict`` reads.
        resolution: metres per pixel of the written images (None: the scene's own).
        options: bands and scaling (resolution choices are made here).
        log: called with the reader's one-line description of the scene and any warning.

    Returns:
        The scene's output grid.

    Raises:
        RoadkdError: if the scene cannot be read or used.
    """
    scene = require_file(path, "scene")
    opts = options or ReadOptions()
    try:
        with rasterio.open(scene) as src:
            shape = (src.height, src.width)
            native = ground_resolution_m(src.transform, src.crs, shape) if src.crs else 1.0
            # Training data is made at the resolution the user asks for, whatever it is.
            plan = plan_scene(
                src,
                in_channels=3,
                resolution_m=resolution or native,
                options=replace(opts, native_resolution=resolution is None, any_resolution=True),
            )
    except RasterioIOError as err:
        raise RoadkdError(f"cannot read {scene}: not a raster GDAL can open ({err})") from err
    if log is not None:
        log(plan.describe())
        for warning in plan.warnings:
            log(warning)
    return SceneGrid(scene.stem, plan)


def cut_blocks(grid: SceneGrid, block_px: int, labelled_area: BaseGeometry | None) -> list[Block]:
    """Cut a scene into blocks and measure how much of each the labelled area covers.

    Args:
        grid: the scene's output grid.
        block_px: smallest side of a block in pixels (remainders are shared, as the
            datamodule shares them).
        labelled_area: the labelled area in the scene's CRS (None: nothing labelled).

    Returns:
        The blocks, row by row from the top.
    """
    blocks = []
    rows, cols = block_edges(grid.height, block_px), block_edges(grid.width, block_px)
    for r, (r0, r1) in enumerate(itertools.pairwise(rows)):
        for c, (c0, c1) in enumerate(itertools.pairwise(cols)):
            window = Window(c0, r0, c1 - c0, r1 - r0)
            footprint = shapely.box(*rasterio.windows.bounds(window, grid.transform))
            share = 0.0
            if labelled_area is not None:
                share = footprint.intersection(labelled_area).area / footprint.area
                share = 1.0 if share > 1 - 1e-6 else (0.0 if share < 1e-6 else share)
            blocks.append(Block(grid, f"{grid.name}_r{r}_c{c}", window, footprint, share))
    return blocks


def _held_out_count(fraction: float, candidates: int) -> int:
    """Blocks to hold out for a split: a share of the candidates, at least one if asked."""
    return 0 if fraction <= 0 or candidates == 0 else max(1, round(fraction * candidates))


def assign_splits(
    blocks: Sequence[Block], val: float, test: float, seed: int
) -> tuple[dict[str, list[Block]], int]:
    """Draw val and test blocks from the wholly labelled ones; the rest train or go unlabelled.

    Blocks that overlap a held-out block (scenes that overlap each other) are left out, so
    no training or unlabelled pixel is also a val or test pixel.

    Args:
        blocks: every block of every scene.
        val: share of the wholly labelled blocks for validation.
        test: share of the wholly labelled blocks for testing.
        seed: seed of the draw.

    Returns:
        ``({"train", "val", "test", "unlabeled"}: blocks)`` and how many blocks were left out.

    Raises:
        RoadkdError: if the labelled area is too small for the requested splits.
    """
    if not any(b.labelled_share > 0 for b in blocks):
        raise RoadkdError("the labelled area does not overlap the scenes")
    whole = [b for b in blocks if b.labelled_share == 1.0]
    n_val, n_test = _held_out_count(val, len(whole)), _held_out_count(test, len(whole))
    if (val > 0 or test > 0) and not whole:
        raise RoadkdError(
            "no block lies wholly inside the labelled area, so no val/test block can be "
            "drawn: enlarge the labelled area or lower --block-size"
        )
    trainable = sum(b.labelled_share > 0 for b in blocks)
    if n_val + n_test >= trainable:
        raise RoadkdError(
            f"the labelled area holds {len(whole)} whole block(s): too few for val "
            f"{n_val}, test {n_test} and training; lower --block-size, --val or --test"
        )
    common = blocks[0].scene.crs

    def outline(block: Block) -> BaseGeometry:
        if block.scene.crs == common:
            return block.footprint
        series = gpd.GeoSeries([block.footprint], crs=block.scene.crs)
        return series.to_crs(common).iloc[0]

    def overlaps(block: Block, others: list[BaseGeometry]) -> bool:
        shape = outline(block)
        return any(shape.intersection(o).area > 1e-6 * shape.area for o in others)

    splits: dict[str, list[Block]] = {"train": [], "val": [], "test": [], "unlabeled": []}
    held: list[BaseGeometry] = []
    held_names: set[str] = set()
    for index in np.random.default_rng(seed).permutation(len(whole)):
        block = whole[int(index)]
        split = "val" if len(splits["val"]) < n_val else "test"
        if split == "test" and len(splits["test"]) >= n_test:
            break
        if overlaps(block, held):
            continue
        splits[split].append(block)
        held.append(outline(block))
        held_names.add(block.name)
    dropped = 0
    for block in blocks:
        if block.name in held_names:
            continue
        if overlaps(block, held):
            dropped += 1
        else:
            splits["train" if block.labelled_share > 0 else "unlabeled"].append(block)
    if not splits["train"]:
        raise RoadkdError("no labelled block is left for training: lower --val or --test")
    return splits, dropped
