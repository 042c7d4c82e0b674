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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from rasterio.crs import CRS
from shapely.geometry.base import BaseGeometry

from ..errors import RoadkdError
from ..ground import area_km2, planar_steps, step_lengths
from ..imagery import (
    SAME_RESOLUTION_TOLERANCE,
    Log,
    ReadOptions,
    SceneReader,
)
from ..labels import IGNORE_INDEX
from ..layers import LINE_TYPES, POLYGON_TYPES, read_layer
from ..progress import Progress, as_progress
from .layout import (
    SPLITS,
    check_new_dataset_folder,
    staged_dataset,
    write_scene,
    write_splits,
)
from .road_widths import road_widths
from .scene_blocks import (
    PlannedScene,
    SceneBlock,
    assign_splits,
    cut_blocks,
    open_scene_grid,
    split_by_scene,
)
from .vector_labels import burn, road_masks

#: Reminder printed with every summary and kept in ``splits.json``.
COMPLETENESS_NOTE = (
    "roads missing from the road layer inside the labelled area are taught as background: "
    "check the layer is complete there"
)


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


# -- the whole job -------------------------------------------------------------------------


@dataclass
class _SceneRoads:
    """A scene's roads in its CRS, with an index for per-block queries."""

    lines: np.ndarray
    widths_m: np.ndarray
    tree: shapely.STRtree
    labelled_area: BaseGeometry | None


def _scene_roads(
    grid: PlannedScene,
    in_crs: np.ndarray,
    widths_m: np.ndarray,
    keep: np.ndarray,
    area: BaseGeometry | None,
    uncertain_m: float,
) -> _SceneRoads:
    """Roads to burn on a scene (``keep``), and its labelled area.

    Args:
        grid: the scene's grid.
        in_crs: every road line, in the grid's CRS.
        widths_m: every line's width.
        keep: which lines are roads.
        area: the labelled-area polygons in the grid's CRS (None: not given).
        uncertain_m: ignore band on each side of every road edge.

    Without a labelled-area layer, the labelled area is the extent of the whole road layer
    (dropped paths included: the user mapped there too), road surfaces included:
    centrelines stop short of the edge of the imagery they were drawn on by about half a
    road width.
    """
    on_scene = keep & shapely.intersects(in_crs, grid.footprint)
    labelled: BaseGeometry | None = area
    if area is None and len(in_crs):
        reach = (widths_m / 2 + uncertain_m) * grid.units_per_m
        grown = shapely.bounds(in_crs) + reach[:, None] * np.array([-1, -1, 1, 1])
        labelled = shapely.box(*grown[:, :2].min(0), *grown[:, 2:].max(0))
    lines = in_crs[on_scene]
    return _SceneRoads(lines, widths_m[on_scene], shapely.STRtree(lines), labelled)


def _block_labels(
    block: SceneBlock, roads: _SceneRoads, uncertain_m: float, valid: np.ndarray
) -> tuple[dict[str, np.ndarray], BaseGeometry]:
    """The block's masks (ignore where unlabelled or no imagery), and its labelled part."""
    grid = block.scene
    margin_m = float(roads.widths_m.max(initial=0.0)) / 2 + uncertain_m
    transform = grid.transform
    # two pixels' diagonals (|a| alone is 0 on a grid turned 90 degrees)
    pixel_reach = sum(step_lengths(planar_steps(transform)))
    margin = margin_m * grid.units_per_m + 2 * pixel_reach
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
    labelled_part = block.imagery
    ignore = ~valid
    if block.labelled_share < 1.0 and roads.labelled_area is not None:
        labelled_part = labelled_part.intersection(roads.labelled_area)
        ignore |= ~burn(np.array([labelled_part]), block.transform, block.shape)
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
    labelled_area_layer: str | None = None,
    val: float = 0.1,
    test: float = 0.1,
    seed: int = 1,
    block_px: int = 1024,
    resolution: float | None = None,
    read_options: ReadOptions | None = None,
    log: Log | None = None,
    scene_splits: Mapping[str, str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    progress: bool | Progress = False,
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
        labelled_area_layer: layer of ``labelled_area`` (default: its first polygon layer).
        val: share of the wholly labelled blocks held out for validation.
        test: share of the wholly labelled blocks held out for testing.
        seed: seed of the val/test draw.
        block_px: smallest side of a block in pixels (a scene's remainders are shared
            among its blocks).
        resolution: metres per pixel of the written images (default: each scene's own).
        read_options: bands and scaling of the scenes (as ``roadkd predict``).
        log: called with how each scene is read and any warning.
        scene_splits: the split of every scene (by file name without extension: train,
            val, test or unlabeled), decided by the caller (e.g. a release's official
            split), instead of the seeded draw of ``val`` and ``test`` blocks; blocks
            outside the labelled area go to the unlabelled stream whatever their scene.
        provenance: fields added to (or replacing) those ``splits.json`` records of the
            run, e.g. the release the data came from (not the split names).
        progress: report the blocks written (True: a bar on stderr; see
            :mod:`roadkd.progress`).

    Returns:
        What was written.

    Raises:
        RoadkdError: for unusable inputs or arguments; nothing is written then.
    """
    if not scenes:
        raise RoadkdError("give at least one scene")
    if provenance is not None and set(provenance) & set(SPLITS):
        raise ValueError(f"provenance must not name a split: {sorted(provenance)}")
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise RoadkdError(f"--val and --test must be in [0, 1) with a sum below 1: {val}, {test}")
    if default_width_m <= 0 or uncertain_m < 0 or block_px < 32:
        raise RoadkdError("widths must be positive, --uncertain-m >= 0 and --block-size >= 32")
    check_new_dataset_folder(Path(out))  # before reading anything
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
        read_layer(labelled_area, POLYGON_TYPES, "labelled area", labelled_area_layer, near=near)
        if labelled_area
        else None
    )

    # Reprojected once per CRS: a release of many small scenes has a few CRSs only.
    lines_in: dict[CRS, np.ndarray] = {}
    area_in: dict[CRS, BaseGeometry] = {}
    for crs in {g.crs for g in grids}:
        lines_in[crs] = lines.geometry.to_crs(crs).to_numpy()
        if area is not None:
            area_in[crs] = shapely.union_all(area.geometry.to_crs(crs).to_numpy())
    scene_roads = {
        g.name: _scene_roads(g, lines_in[g.crs], widths_m, keep, area_in.get(g.crs), uncertain_m)
        for g in grids
    }
    if not any(len(r.lines) for r in scene_roads.values()):
        raise RoadkdError(
            f"no road of {roads} lies on the scenes ({int(keep.sum())} of {len(lines)} line(s) "
            "kept as roads, in "
            f"{lines.crs.to_string() if lines.crs else 'no CRS'}): check both places"
        )
    blocks = [b for g in grids for b in cut_blocks(g, block_px, scene_roads[g.name].labelled_area)]
    if scene_splits is None:
        planned, dropped = assign_splits(blocks, val, test, seed)
    else:
        planned, dropped = split_by_scene(blocks, scene_splits)
    split_of = {b.name: split for split, members in planned.items() for b in members}

    written: dict[str, list[str]] = {split: [] for split in planned}
    road_km = labelled_km2 = unlabelled_km2 = 0.0
    with (
        staged_dataset(Path(out)) as staging,
        as_progress(progress).counter("from-vectors", len(split_of), "block") as bar,
    ):
        for grid in grids:
            labelled_parts: list[BaseGeometry] = []
            with SceneReader(grid.plan.path, 3, grid.plan.resolution_m, plan=grid.plan) as reader:
                for block in (b for b in blocks if b.scene is grid and b.name in split_of):
                    pixels, valid = reader.read(block.window.to_rasterio())
                    bar.update()
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
        crs_names = sorted({g.crs.to_string() for g in grids})
        info: dict[str, Any] = {
            "source": "vectors",
            "scenes": [str(g.plan.path) for g in grids],
            "roads": str(roads),
            "labelled_area": str(labelled_area) if labelled_area else None,
            "width_field": width_field,
            "default_width_m": default_width_m,
            "keep_paths": keep_paths,
            "uncertain_m": uncertain_m,
            "block_px": block_px,
            "seed": seed,
            "crs": crs_names[0] if len(crs_names) == 1 else crs_names,
            "resolution_m": grids[0].plan.resolution_m,
            "note": COMPLETENESS_NOTE,
        }
        write_splits(staging, written, **{**info, **(provenance or {})})
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
    "FromVectorsSummary",
    "PlannedScene",
    "SceneBlock",
    "assign_splits",
    "cut_blocks",
    "open_scene_grid",
    "read_layer",
    "road_masks",
    "write_dataset_from_vectors",
]
