"""A user's scenes cut into blocks of their own, and the blocks shared out among splits.

Each block is written as a scene of its own (``<scene>_r<row>_c<col>``), so ``splits.json``
can hold it in train, val, test or unlabeled and the datamodule works unchanged.
"""

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.io import DatasetReader
from rasterio.transform import array_bounds
from shapely.geometry.base import BaseGeometry

from ..errors import RoadkdError
from ..grid import PixelWindow, block_edges
from ..ground import ground_resolution_m, planar_pixel_size
from ..imagery import (
    Log,
    OnPlannedGrid,
    ReadOptions,
    ScenePlan,
    plan_scene,
)
from ..raster import open_raster


@dataclass(frozen=True)
class PlannedScene(OnPlannedGrid):
    """A scene and the grid its training images are written on (the imagery reader's plan).

    Attributes:
        name: the scene's file name without extension.
        plan: how the imagery reader brings the scene to that grid.
        outline: the scene's own extent in the grid's CRS, for a scene reprojected from
            degrees (its grid is the north-up box around a tilted outline, whose corners
            hold no imagery); None when the grid is the scene's own.
    """

    name: str
    plan: ScenePlan
    outline: BaseGeometry | None = None

    @property
    def units_per_m(self) -> float:
        """CRS units per ground metre (1 in UTM; feet and Web Mercator differ)."""
        return planar_pixel_size(self.transform) / self.plan.resolution_m

    @property
    def footprint(self) -> BaseGeometry:
        """The grid's outline in its CRS."""
        return shapely.box(*array_bounds(self.height, self.width, self.transform))

    @property
    def imagery(self) -> BaseGeometry:
        """Where the grid holds imagery, in its CRS (the footprint unless reprojected)."""
        return self.footprint if self.outline is None else self.outline


@dataclass(frozen=True)
class SceneBlock:
    """A piece of a scene written as a scene of its own.

    Attributes:
        scene: the scene it is cut from.
        name: ``<scene>_r<row>_c<col>``.
        window: its pixels in the scene's output grid.
        footprint: its outline in the scene's CRS.
        labelled_share: share of its imagery inside the labelled area (1 wholly, 0 not at
            all); the empty corners of a reprojected scene do not count.
    """

    scene: PlannedScene
    name: str
    window: PixelWindow
    footprint: BaseGeometry
    labelled_share: float

    @property
    def transform(self) -> Affine:
        """Affine transform of the block's own grid."""
        return self.window.transform(self.scene.transform)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return self.window.rows, self.window.cols

    @property
    def imagery(self) -> BaseGeometry:
        """The part of its footprint that holds imagery, in the scene's CRS."""
        if self.scene.outline is None:
            return self.footprint
        return self.footprint.intersection(self.scene.outline)


def open_scene_grid(
    path: str | Path,
    resolution: float | None = None,
    options: ReadOptions | None = None,
    log: Log | None = None,
) -> PlannedScene:
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
    scene = Path(path)
    opts = options or ReadOptions()
    # the imagery plan says what a scene without a CRS lacks, in its own words
    with open_raster(scene, "scene", georeferenced=False) as src:
        shape = (src.height, src.width)
        native = ground_resolution_m(src.transform, src.crs, shape) if src.crs else 1.0
        # Training data is made at the resolution the user asks for, whatever it is.
        plan = plan_scene(
            src,
            in_channels=3,
            resolution_m=resolution or native,
            options=replace(opts, native_resolution=resolution is None, any_resolution=True),
        )
        outline = _outline_in(src, plan.crs) if plan.reprojected else None
    if log is not None:
        log(plan.describe())
        for warning in plan.warnings:
            log(warning)
    return PlannedScene(scene.stem, plan, outline)


def _outline_in(src: DatasetReader, crs: CRS) -> BaseGeometry:
    """A raster's extent in another CRS, its edges densified so that they bend as they should."""
    shape = (src.height, src.width)
    corners = [(0, 0), (0, shape[1]), (shape[0], shape[1]), (shape[0], 0)]
    ring = shapely.Polygon([src.transform @ (col, row) for row, col in corners])
    ring = shapely.segmentize(ring, ring.length / 256)
    return gpd.GeoSeries([ring], crs=src.crs).to_crs(crs).iloc[0]


def cut_blocks(
    grid: PlannedScene, block_px: int, labelled_area: BaseGeometry | None
) -> list[SceneBlock]:
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
            window = PixelWindow(r0, c0, r1 - r0, c1 - c0)
            footprint = shapely.box(*rasterio.windows.bounds(window.to_rasterio(), grid.transform))
            block = SceneBlock(grid, f"{grid.name}_r{r}_c{c}", window, footprint, 0.0)
            imagery = block.imagery
            if labelled_area is not None and imagery.area > 0:
                share = imagery.intersection(labelled_area).area / imagery.area
                share = 1.0 if share > 1 - 1e-6 else (0.0 if share < 1e-6 else share)
                block = replace(block, labelled_share=share)
            blocks.append(block)
    return blocks


def _held_out_count(fraction: float, candidates: int) -> int:
    """Blocks to hold out for a split: a share of the candidates, at least one if asked."""
    return 0 if fraction <= 0 or candidates == 0 else max(1, round(fraction * candidates))


def _outlines_in_degrees(blocks: Sequence[SceneBlock]) -> np.ndarray:
    """Every block's imagery in WGS84, where blocks of scenes in any CRS can be compared."""
    outlines = np.empty(len(blocks), dtype=object)
    by_crs: dict[CRS, list[int]] = {}
    for index, block in enumerate(blocks):
        by_crs.setdefault(block.scene.crs, []).append(index)
    for crs, indices in by_crs.items():
        shapes = gpd.GeoSeries([blocks[i].imagery for i in indices], crs=crs)
        outlines[indices] = shapes.to_crs("EPSG:4326").to_numpy()
    return outlines


def _keep_apart(
    blocks: Sequence[SceneBlock], splits: dict[str, list[SceneBlock]]
) -> tuple[dict[str, list[SceneBlock]], int]:
    """Leave out the train and unlabelled blocks that share imagery with a val or test block.

    Scenes that overlap each other would otherwise put a held-out pixel in training.

    Returns:
        The splits without them, and how many were left out.
    """
    outlines = _outlines_in_degrees(blocks)
    index_of = {id(block): i for i, block in enumerate(blocks)}
    held = [index_of[id(b)] for split in ("val", "test") for b in splits[split]]
    tree = shapely.STRtree(outlines[held])
    kept: dict[str, list[SceneBlock]] = {**splits}
    dropped = 0
    for split in ("train", "unlabeled"):
        kept[split] = []
        for block in splits[split]:
            shape = outlines[index_of[id(block)]]
            near = tree.query(shape, predicate="intersects")
            touching = shapely.area(shapely.intersection(shape, outlines[held][near]))
            if (touching > 1e-6 * shape.area).any():
                dropped += 1
            else:
                kept[split].append(block)
    return kept, dropped


def assign_splits(
    blocks: Sequence[SceneBlock], val: float, test: float, seed: int
) -> tuple[dict[str, list[SceneBlock]], int]:
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
    outlines = _outlines_in_degrees(whole)
    splits: dict[str, list[SceneBlock]] = {"train": [], "val": [], "test": [], "unlabeled": []}
    held: list[int] = []
    for index in np.random.default_rng(seed).permutation(len(whole)).tolist():
        split = "val" if len(splits["val"]) < n_val else "test"
        if split == "test" and len(splits["test"]) >= n_test:
            break
        shape = outlines[index]
        if (
            held
            and (
                shapely.area(shapely.intersection(shape, outlines[held])) > 1e-6 * shape.area
            ).any()
        ):
            continue
        splits[split].append(whole[index])
        held.append(index)
    held_names = {b.name for split in ("val", "test") for b in splits[split]}
    for block in blocks:
        if block.name not in held_names:
            splits["train" if block.labelled_share > 0 else "unlabeled"].append(block)
    splits, dropped = _keep_apart(blocks, splits)
    if not splits["train"]:
        raise RoadkdError("no labelled block is left for training: lower --val or --test")
    return splits, dropped


def split_by_scene(
    blocks: Sequence[SceneBlock], scene_splits: Mapping[str, str]
) -> tuple[dict[str, list[SceneBlock]], int]:
    """Give every block its scene's split, as a caller decided it (e.g. a release's own).

    A block outside the labelled area goes to the unlabelled stream whatever its scene's
    split; train and unlabelled blocks that share imagery with a val or test block are
    left out, as in :func:`assign_splits`.

    Args:
        blocks: every block of every scene.
        scene_splits: ``{scene name: "train" | "val" | "test" | "unlabeled"}`` for every scene.

    Returns:
        ``({"train", "val", "test", "unlabeled"}: blocks)`` and how many blocks were left out.

    Raises:
        RoadkdError: for a scene without a split, an unknown split name, or a val or test
            scene outside the labelled area.
    """
    splits: dict[str, list[SceneBlock]] = {"train": [], "val": [], "test": [], "unlabeled": []}
    for block in blocks:
        split = scene_splits.get(block.scene.name)
        if split not in splits:
            raise RoadkdError(
                f"scene {block.scene.name} has no split (train, val, test or unlabeled): {split!r}"
            )
        if block.labelled_share == 0 and split in ("val", "test"):
            raise RoadkdError(
                f"scene {block.scene.name} is held out for {split} but lies outside the "
                "labelled area: it cannot be scored"
            )
        splits["unlabeled" if block.labelled_share == 0 else split].append(block)
    if not splits["train"]:
        raise RoadkdError("no labelled block is left for training")
    return _keep_apart(blocks, splits)
