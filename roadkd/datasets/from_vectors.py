"""Training data from a user's imagery and the road layer they already have.

``roadkd data from-vectors`` burns road centrelines (any line layer GDAL reads, any CRS)
into roadkd's dataset layout (:mod:`roadkd.datasets.layout`):

- each scene is cut into blocks of at least ``block_px`` pixels, written as scenes of their
  own (``<scene>_r<row>_c<col>``), so ``splits.json`` can hold them in train, val, test and
  unlabeled and the datamodule works unchanged;
- blocks wholly inside the labelled area (``--labelled-area`` polygons, else the road
  layer's extent) carry labels; val and test blocks are drawn from them (seeded) and no
  other block overlaps them; blocks outside it are the unlabelled stream; blocks across its
  border train on their inside part (their labels outside it are ignore, 255);
- surface = centrelines buffered by half their width (:mod:`roadkd.datasets.road_widths`),
  with a band of ``uncertain_m`` on each side of every surface edge written as ignore
  (255): vector widths are approximate; edge = the surface's boundary (2 px, as the
  synthetic labels); centreline = the lines burnt one pixel wide.

Roads missing from the layer inside the labelled area are taught as background: the
layer's completeness there is the user's responsibility.
"""

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.errors import RasterioIOError
from rasterio.features import rasterize
from rasterio.transform import array_bounds
from rasterio.windows import Window
from scipy import ndimage
from shapely.geometry.base import BaseGeometry

from ..datamodules.labeled_split import block_edges
from ..errors import RoadkdError
from ..ground import area_km2, ground_resolution_m
from ..imagery import (
    SAME_RESOLUTION_TOLERANCE,
    Log,
    OnPlannedGrid,
    ReadOptions,
    ScenePlan,
    SceneReader,
    plan_scene,
)
from ..io import require_file
from ..labels import IGNORE_INDEX
from ..layers import LINE_TYPES, POLYGON_TYPES, read_layer
from .layout import staged_dataset, write_scene, write_splits
from .road_widths import road_widths

#: Reminder printed with every summary and kept in ``splits.json``.
COMPLETENESS_NOTE = (
    "roads missing from the road layer inside the labelled area are taught as background: "
    "check the layer is complete there"
)


@dataclass(frozen=True)
class SceneGrid(OnPlannedGrid):
    """A scene and the grid its training images are written on (the imagery reader's plan)."""

    name: str
    plan: ScenePlan

    @property
    def units_per_m(self) -> float:
        """CRS units per ground metre (1 in UTM; feet and Web Mercator differ)."""
        step = math.hypot(self.transform.a, self.transform.d)
        return step / self.plan.resolution_m

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
        return rasterio.windows.transform(self.window, self.scene.transform)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return int(self.window.height), int(self.window.width)


@dataclass
class FromVectorsSummary:
    """What ``from-vectors`` wrote."""

    out: Path
    scenes: int
    road_km: float
    labelled_km2: float
    unlabelled_km2: float
    blocks: dict[str, list[str]] = field(default_factory=dict)
    dropped_overlapping: int = 0

    def line(self) -> str:
        """The one-paragraph summary the CLI prints."""
        counts = ", ".join(f"{k} {len(v)}" for k, v in self.blocks.items())
        text = (
            f"wrote {self.out}: {self.scenes} scene(s), {self.road_km:.2f} km of road "
            f"rasterised, labelled {self.labelled_km2:.3f} km2, unlabelled "
            f"{self.unlabelled_km2:.3f} km2; blocks: {counts}"
        )
        if self.dropped_overlapping:
            text += f" ({self.dropped_overlapping} left out: overlap held-out blocks)"
        return text + f". Note: {COMPLETENESS_NOTE}."


# -- masks ---------------------------------------------------------------------------------


def _burn(geometries: np.ndarray, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose centre a geometry covers (lines: a one-pixel, 8-connected trace)."""
    shapes = [(g, 1) for g in geometries if g is not None and not g.is_empty]
    if not shapes:
        return np.zeros(shape, bool)
    burnt: np.ndarray = rasterize(
        shapes, out_shape=shape, transform=transform, fill=0, dtype="uint8"
    )
    return burnt.astype(bool)


def road_masks(
    lines: np.ndarray,
    widths_m: np.ndarray,
    transform: Affine,
    shape: tuple[int, int],
    uncertain_m: float = 1.0,
    units_per_m: float = 1.0,
) -> dict[str, np.ndarray]:
    """Surface, edge and centreline labels of road centrelines on a grid.

    Args:
        lines: shapely LineStrings in the grid's CRS.
        widths_m: carriageway width of each line, in metres.
        transform: affine transform of the grid.
        shape: (height, width) of the grid.
        uncertain_m: width in metres of the ignore band on each side of every surface edge.
        units_per_m: CRS units per ground metre (1 for UTM).

    Returns:
        ``{"surface", "edge", "centerline"}`` uint8 arrays: surface 1 road, 0 background,
        255 unknown (the band); edge and centreline 0/1.
    """
    half = np.asarray(widths_m, float) / 2 * units_per_m
    band = uncertain_m * units_per_m
    nominal = _burn(shapely.buffer(lines, half), transform, shape)
    surface = nominal.astype(np.uint8)
    if band > 0:
        outer = _burn(shapely.buffer(lines, half + band), transform, shape)
        inner_half = half - band
        wide = inner_half > 0
        core = _burn(shapely.buffer(lines[wide], inner_half[wide]), transform, shape)
        surface = np.where(core, 1, np.where(outer, IGNORE_INDEX, 0)).astype(np.uint8)
    edge = nominal & ~ndimage.binary_erosion(nominal, iterations=2, border_value=1)
    return {
        "surface": surface,
        "edge": edge.astype(np.uint8),
        "centerline": _burn(lines, transform, shape).astype(np.uint8),
    }


# -- scenes --------------------------------------------------------------------------------


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


# -- blocks and splits ---------------------------------------------------------------------


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


# -- the whole job -------------------------------------------------------------------------


@dataclass
class _SceneRoads:
    """A scene's roads in its CRS, with an index for per-block queries."""

    lines: np.ndarray
    widths_m: np.ndarray
    tree: shapely.STRtree
    labelled_area: BaseGeometry | None


def _scene_roads(
    grid: SceneGrid,
    roads: gpd.GeoDataFrame,
    widths_m: np.ndarray,
    keep: np.ndarray,
    area: gpd.GeoDataFrame | None,
    uncertain_m: float,
) -> _SceneRoads:
    """Roads to burn on a scene (``keep``), and its labelled area.

    Without a labelled-area layer, the labelled area is the extent of the whole road layer
    (dropped paths included: the user mapped there too), road surfaces included:
    centrelines stop short of the edge of the imagery they were drawn on by about half a
    road width.
    """
    in_crs = roads.geometry.to_crs(grid.crs).to_numpy()
    on_scene = keep & shapely.intersects(in_crs, grid.footprint)
    labelled: BaseGeometry | None = None
    if area is not None:
        labelled = shapely.union_all(area.geometry.to_crs(grid.crs).to_numpy())
    elif len(in_crs):
        reach = (widths_m / 2 + uncertain_m) * grid.units_per_m
        grown = shapely.bounds(in_crs) + reach[:, None] * np.array([-1, -1, 1, 1])
        labelled = shapely.box(*grown[:, :2].min(0), *grown[:, 2:].max(0))
    lines = in_crs[on_scene]
    return _SceneRoads(lines, widths_m[on_scene], shapely.STRtree(lines), labelled)


def _block_labels(
    block: Block, roads: _SceneRoads, uncertain_m: float, valid: np.ndarray
) -> tuple[dict[str, np.ndarray], BaseGeometry]:
    """The block's masks (ignore where unlabelled or no imagery), and its labelled part."""
    grid = block.scene
    margin_m = float(roads.widths_m.max(initial=0.0)) / 2 + uncertain_m
    margin = margin_m * grid.units_per_m + 2 * abs(grid.transform.a)
    reach = block.footprint.buffer(margin, join_style="mitre")
    hits = roads.tree.query(reach)
    lines = shapely.clip_by_rect(roads.lines[hits], *reach.bounds)
    keep = ~shapely.is_empty(lines)
    masks = road_masks(
        lines[keep],
        roads.widths_m[hits][keep],
        block.transform,
        block.shape,
        uncertain_m,
        grid.units_per_m,
    )
    labelled_part = block.footprint
    ignore = ~valid
    if block.labelled_share < 1.0 and roads.labelled_area is not None:
        labelled_part = block.footprint.intersection(roads.labelled_area)
        ignore |= ~_burn(np.array([labelled_part]), block.transform, block.shape)
    for mask in masks.values():
        mask[ignore] = IGNORE_INDEX
    return masks, labelled_part


def write_dataset_from_vectors(
    scenes: Sequence[str | Path],
    roads: str | Path,
    out: str | Path,
    *,
    roads_layer: str | None = None,
    width_field: str | None = None,
    default_width_m: float = 6.0,
    keep_paths: bool = False,
    uncertain_m: float = 1.0,
    labelled_area: str | Path | None = None,
    val: float = 0.1,
    test: float = 0.1,
    seed: int = 1,
    block_px: int = 1024,
    resolution: float | None = None,
    read_options: ReadOptions | None = None,
    log: Log | None = None,
) -> FromVectorsSummary:
    """Write a dataset in roadkd's layout from scenes and a road centreline layer.

    Args:
        scenes: rasters ``roadkd predict`` reads (any CRS, bit depth and band order).
        roads: road centrelines (any line layer GDAL reads, any CRS).
        out: dataset folder to create (must not exist or be empty).
        roads_layer: layer of ``roads`` to read (default: its first line layer).
        width_field: numeric field of road widths in metres.
        default_width_m: width of roads nothing else gives a width for.
        keep_paths: keep footways, cycleways and other paths.
        uncertain_m: ignore band on each side of every surface edge, in metres.
        labelled_area: polygons where the road layer is complete (default: its extent).
        val: share of the wholly labelled blocks held out for validation.
        test: share of the wholly labelled blocks held out for testing.
        seed: seed of the val/test draw.
        block_px: smallest side of a block in pixels (a scene's remainders are shared
            among its blocks).
        resolution: metres per pixel of the written images (default: each scene's own).
        read_options: bands and scaling of the scenes (as ``roadkd predict``).
        log: called with how each scene is read and any warning.

    Returns:
        What was written.

    Raises:
        RoadkdError: for unusable inputs or arguments; nothing is written then.
    """
    if not scenes:
        raise RoadkdError("give at least one scene")
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise RoadkdError(f"--val and --test must be in [0, 1) with a sum below 1: {val}, {test}")
    if default_width_m <= 0 or uncertain_m < 0 or block_px < 32:
        raise RoadkdError("widths must be positive, --uncertain-m >= 0 and --block-size >= 32")
    grids = [open_scene_grid(s, resolution, read_options, log) for s in scenes]
    names = [g.name for g in grids]
    if len(set(names)) < len(names):
        raise RoadkdError(f"scene file names must differ (without folder): {', '.join(names)}")
    resolutions = [g.plan.resolution_m for g in grids]
    if max(resolutions) > min(resolutions) * (1 + SAME_RESOLUTION_TOLERANCE):
        listing = ", ".join(f"{g.name} {g.plan.resolution_m:.4g}" for g in grids)
        raise RoadkdError(
            f"the scenes differ in resolution ({listing} m/px) and a model trains at one: "
            "give --resolution"
        )

    near = [(grid.crs, grid.footprint.bounds) for grid in grids]
    lines = read_layer(roads, LINE_TYPES, "road layer", roads_layer, near=near)
    widths_m, keep = road_widths(lines, width_field, default_width_m, keep_paths)
    area = (
        read_layer(labelled_area, POLYGON_TYPES, "labelled area", near=near)
        if labelled_area
        else None
    )

    scene_roads = {g.name: _scene_roads(g, lines, widths_m, keep, area, uncertain_m) for g in grids}
    if not any(len(r.lines) for r in scene_roads.values()):
        raise RoadkdError(
            f"no road of {roads} lies on the scenes ({int(keep.sum())} of {len(lines)} line(s) "
            "kept as roads, in "
            f"{lines.crs.to_string() if lines.crs else 'no CRS'}): check both places"
        )
    blocks = [b for g in grids for b in cut_blocks(g, block_px, scene_roads[g.name].labelled_area)]
    planned, dropped = assign_splits(blocks, val, test, seed)
    split_of = {b.name: split for split, members in planned.items() for b in members}

    written: dict[str, list[str]] = {split: [] for split in planned}
    road_km = labelled_km2 = unlabelled_km2 = 0.0
    with staged_dataset(Path(out)) as staging:
        for grid in grids:
            labelled_parts: list[BaseGeometry] = []
            with SceneReader(grid.plan.path, 3, grid.plan.resolution_m, plan=grid.plan) as reader:
                for block in (b for b in blocks if b.scene is grid and b.name in split_of):
                    pixels, valid = reader.read(block.window)
                    if not valid.any():
                        continue  # outside the imagery (a reprojected scene's corners)
                    split = split_of[block.name]
                    masks: dict[str, np.ndarray] = {}
                    if split != "unlabeled":
                        roads_here = scene_roads[grid.name]
                        masks, part = _block_labels(block, roads_here, uncertain_m, valid)
                        labelled_parts.append(part)
                    block_km2 = area_km2(block.transform, grid.crs, block.shape)
                    labelled_km2 += block_km2 * block.labelled_share
                    unlabelled_km2 += block_km2 * (1 - block.labelled_share)
                    image = pixels.round().astype(np.uint8)
                    write_scene(staging, block.name, image, masks, block.transform, grid.crs)
                    written[split].append(block.name)
            # Measured on the union, so a road along a block border counts once.
            burnt = shapely.intersection(
                scene_roads[grid.name].lines, shapely.union_all(labelled_parts)
            )
            road_km += float(shapely.length(burnt).sum()) / grid.units_per_m / 1000
        write_splits(
            staging,
            written,
            source="vectors",
            scenes=[str(g.plan.path) for g in grids],
            roads=str(roads),
            labelled_area=str(labelled_area) if labelled_area else None,
            width_field=width_field,
            default_width_m=default_width_m,
            keep_paths=keep_paths,
            uncertain_m=uncertain_m,
            block_px=block_px,
            seed=seed,
            crs=grids[0].crs.to_string(),
            resolution_m=grids[0].plan.resolution_m,
            note=COMPLETENESS_NOTE,
        )
    return FromVectorsSummary(
        out=Path(out),
        scenes=len(grids),
        road_km=road_km,
        labelled_km2=labelled_km2,
        unlabelled_km2=unlabelled_km2,
        blocks=written,
        dropped_overlapping=dropped,
    )


__all__ = [
    "COMPLETENESS_NOTE",
    "Block",
    "FromVectorsSummary",
    "SceneGrid",
    "assign_splits",
    "cut_blocks",
    "open_scene_grid",
    "read_layer",
    "road_masks",
    "write_dataset_from_vectors",
]
