"""The unit of vectorisation: a block of the scene, read with a halo, clipped to its core.

A scene is cut into a grid of square cores (``block`` pixels). Each core is read with a
halo wide enough for every metre-based setting (the widest road, spur pruning, gap
bridging, junction merging), so that inside the core the block's skeleton and graph are
the whole scene's. The block's lines are clipped to the core and its surface polygons
built from the core alone; ``roadkd.vectorize.stitch`` joins the pieces of all blocks.

What stitching cannot change is finished here, in the worker that vectorised the block:
a line whose two ends lie well inside the core, at nodes that are not degree two, is
simplified, measured and mapped to the CRS; so is a surface polygon that touches no seam.
The scene's process then only joins what crosses seams (``roadkd.vectorize.stitch``).

Coordinates of the pieces are scene pixels: lines as (row, col) of pixel centres (as in
``roadkd.vectorize.graph``), polygons as (x = col, y = row) of pixel corners.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from affine import Affine
from rasterio.features import shapes
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from shapely.affinity import affine_transform
from shapely.geometry import LineString, Polygon, shape

from ..errors import RoadkdError
from ..grid import Grid, PixelWindow
from .core import (
    Sides,
    affine_params,
    centreline_graph,
    ground_length,
    polygonal_parts,
    road_mask,
    smooth_path,
)
from .graph import path_length
from .options import VectorizeOptions

#: Halo pixels beyond the widest metre-based reach: the line smoothing (4 px), a dead
#: end's direction (10 px) and rounding.
HALO_MARGIN_PX = 24

#: Line ends closer than this (pixels) are the same point: the two sides of a seam
#: compute their crossing from the same path, up to floating-point rounding.
SNAP_PX = 1e-3

#: A line end this far (pixels) inside its core cannot meet another block's line end.
INTERIOR_PX = 0.5


def simplify_px(grid: Grid, options: VectorizeOptions) -> float:
    """Douglas-Peucker tolerance in pixels (one pixel unless ``simplify_m`` is set)."""
    return 1.0 if options.simplify_m is None else options.simplify_m / grid.resolution_m


@dataclass(frozen=True)
class Block:
    """One block: a core of the scene and the larger window it is read with.

    Attributes:
        index: position in the scene's block list (results are assembled in this order).
        core: (row, col, rows, cols) of the core in scene pixels.
        window: (row, col, rows, cols) of the core with its halo, inside the scene.
    """

    index: int
    core: PixelWindow
    window: PixelWindow

    def open_sides(self, grid: Grid) -> Sides:
        """The window's sides (top, bottom, left, right) where the scene goes on."""
        row, col, rows, cols = self.window
        return (row > 0, row + rows < grid.height, col > 0, col + cols < grid.width)

    def seams(self, grid: Grid) -> Sides:
        """The core's sides (top, bottom, left, right) that border another block."""
        row, col, rows, cols = self.core
        return (row > 0, row + rows < grid.height, col > 0, col + cols < grid.width)

    @property
    def window_slices(self) -> tuple[slice, slice]:
        """The window as (rows, cols) slices of the scene."""
        return self.window.slices


def halo_px(options: VectorizeOptions, resolution_m: float) -> int:
    """Halo in pixels that makes a block's core vectorise as in the whole scene."""
    reach_m = max(
        options.max_road_width_m, options.min_spur_m, options.bridge_m, options.junction_m
    )
    return math.ceil(reach_m / resolution_m) + HALO_MARGIN_PX


def plan_blocks(grid: Grid, block: int | None, options: VectorizeOptions) -> list[Block]:
    """Cut a scene into blocks of ``block`` pixels (None: one block, the whole scene).

    Raises:
        RoadkdError: if ``block`` is not a positive number of pixels.
    """
    if block is not None and block <= 0:
        raise RoadkdError(f"--block must be a positive number of pixels, got {block}")
    side = max(grid.height, grid.width) if block is None else block
    halo = halo_px(options, grid.resolution_m)
    blocks: list[Block] = []
    for row in range(0, grid.height, side):
        for col in range(0, grid.width, side):
            rows, cols = min(side, grid.height - row), min(side, grid.width - col)
            top, left = max(0, row - halo), max(0, col - halo)
            bottom = min(grid.height, row + rows + halo)
            right = min(grid.width, col + cols + halo)
            core = PixelWindow(row, col, rows, cols)
            window = PixelWindow(top, left, bottom - top, right - left)
            blocks.append(Block(len(blocks), core, window))
    return blocks


@dataclass
class LineFeature:
    """A finished centreline: what the scene's centreline layer holds for it.

    Attributes:
        geometry: the simplified line in the CRS.
        length_m: its ground length in metres.
        width_m: the road's median width in metres under it.
        length_px: the unsimplified pixel path's length (for dropping small networks).
    """

    geometry: LineString
    length_m: float
    width_m: float
    length_px: float


@dataclass
class LinePiece:
    """A centreline, or the part of one inside a block's core.

    Attributes:
        coords: (N, 2) smoothed path, (row, col) of pixel centres in the scene; of a
            finished line only its two ends.
        samples: road half-widths in metres under the line's pixels in this core (for the
            line's median width once its pieces are joined).
        feature: the finished line, when stitching cannot change it (its block finished
            it); None for a piece that stitching may join to others.
    """

    coords: np.ndarray
    samples: np.ndarray
    feature: LineFeature | None = None


@dataclass
class SurfacePart:
    """A finished road surface polygon.

    Attributes:
        geometry: the simplified polygon in the CRS.
        area_m2: its ground area in square metres.
    """

    geometry: Polygon
    area_m2: float


@dataclass
class BlockPieces:
    """What one block contributes to the scene's vectors.

    Attributes:
        index: the block's index.
        lines: centreline pieces clipped to the core (finished ones among them).
        surfaces: finished surface polygons of the polygons inside the core.
        seam_polygons: polygons that touch a seam (pixel corners, scene pixels), to be
            merged with their neighbours'.
    """

    index: int
    lines: list[LinePiece] = field(default_factory=list)
    surfaces: list[SurfacePart] = field(default_factory=list)
    seam_polygons: list[Polygon] = field(default_factory=list)


def line_feature(
    coords: np.ndarray, samples: np.ndarray, grid: Grid, options: VectorizeOptions
) -> LineFeature:
    """Simplify, measure and map to the CRS one whole centreline (pixel path)."""
    width_m = round(float(2 * np.median(samples)), 2) if len(samples) else 0.0
    pixel_line = LineString(coords[:, ::-1] + 0.5).simplify(simplify_px(grid, options))
    length_m = round(ground_length(pixel_line, grid.steps_m), 2)
    line = affine_transform(pixel_line, affine_params(grid.transform))
    return LineFeature(line, length_m, width_m, path_length(coords))


def surface_parts(polygon: Polygon, grid: Grid, options: VectorizeOptions) -> list[SurfacePart]:
    """Simplify, measure, filter and map to the CRS one whole surface polygon (pixels)."""
    # Douglas-Peucker depends on where a ring starts: start every ring at the same
    # vertex, without the seams' straight-through vertices, whatever the blocks were.
    plain = shapely.normalize(polygon.simplify(0))
    simple = plain.simplify(simplify_px(grid, options), preserve_topology=True)
    pixel_area_m2 = grid.pixel_area_m2
    to_crs = affine_params(grid.transform)
    parts = []
    for part in polygonal_parts(shapely.make_valid(simple)):
        area_m2 = part.area * pixel_area_m2
        if area_m2 >= options.min_polygon_m2:
            parts.append(SurfacePart(affine_transform(part, to_crs), round(area_m2, 2)))
    return parts


def snap_ends(ends: np.ndarray) -> np.ndarray:
    """The node of each line end: ends closer than ``SNAP_PX`` (transitively) are one."""
    pairs = cKDTree(ends).query_pairs(SNAP_PX, output_type="ndarray")
    links = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(ends),) * 2)
    node_of: np.ndarray = connected_components(links, directed=False)[1]
    return node_of


def finish_interior_lines(
    lines: list[LinePiece], block: Block, grid: Grid, options: VectorizeOptions
) -> None:
    """Finish the lines that stitching will leave as they are (in place).

    Such a line has both ends well inside the core (no other block's line can end
    there) at nodes where it is not one of exactly two lines (``merge_degree_two`` would
    join it). Its ends are snapped as ``roadkd.vectorize.stitch.stitch_lines`` snaps
    them (to the first end of the node, in block order), so the feature is the one the
    scene's process would make; only its ends stay, for the network's topology.
    """
    kept = [line for line in lines if path_length(line.coords) > 0]
    if not kept:
        return
    ends = np.array([[line.coords[0], line.coords[-1]] for line in kept]).reshape(-1, 2)
    node_of = snap_ends(ends)
    r0, r1, c0, c1 = _core_bounds(block, grid)
    inside = (
        (ends[:, 0] > r0 + INTERIOR_PX)
        & (ends[:, 0] < r1 - INTERIOR_PX)
        & (ends[:, 1] > c0 + INTERIOR_PX)
        & (ends[:, 1] < c1 - INTERIOR_PX)
    )
    nodes = int(node_of.max()) + 1
    interior = np.ones(nodes, bool)
    np.logical_and.at(interior, node_of, inside)
    degree = np.bincount(node_of, minlength=nodes)
    first_end = np.full(nodes, len(ends))
    np.minimum.at(first_end, node_of, np.arange(len(ends)))
    for i, line in enumerate(kept):
        a, b = int(node_of[2 * i]), int(node_of[2 * i + 1])
        if not (interior[a] and interior[b]) or (a != b and 2 in (degree[a], degree[b])):
            continue
        coords = line.coords.copy()
        coords[0], coords[-1] = ends[first_end[a]], ends[first_end[b]]
        line.feature = line_feature(coords, line.samples, grid, options)
        line.coords, line.samples = coords[[0, -1]], line.samples[:0]


#: Seams sit this far past the half-pixel line between two rows (or columns) of pixel
#: centres. Paths run on pixel centres or halfway between two (a merged junction); a
#: seam exactly there could keep a path running along it in both blocks.
SEAM_OFFSET_PX = 2.0**-10


def _core_bounds(block: Block, grid: Grid) -> tuple[float, float, float, float]:
    """The core as (row min, row max, col min, col max) of pixel-centre coordinates.

    A side on the scene's edge is unbounded: lines may run past the last pixel centre.
    """
    row, col, rows, cols = block.core
    top, bottom, left, right = block.seams(grid)
    shift = SEAM_OFFSET_PX - 0.5
    return (
        row + shift if top else -math.inf,
        row + rows + shift if bottom else math.inf,
        col + shift if left else -math.inf,
        col + cols + shift if right else math.inf,
    )


def clip_path(path: np.ndarray, bounds: tuple[float, float, float, float]) -> list[np.ndarray]:
    """The parts of a (row, col) path inside ``bounds`` (row min, row max, col min, col max)."""
    r0, r1, c0, c1 = bounds
    rows, cols = path[:, 0], path[:, 1]
    if rows.min() >= r0 and rows.max() <= r1 and cols.min() >= c0 and cols.max() <= c1:
        return [path]
    # infinite sides become finite just beyond the path
    r0, r1 = max(r0, rows.min() - 1), min(r1, rows.max() + 1)
    c0, c1 = max(c0, cols.min() - 1), min(c1, cols.max() + 1)
    inside = shapely.line_merge(
        shapely.intersection(LineString(path[:, ::-1]), shapely.box(c0, r0, c1, r1))
    )
    return [
        np.asarray(part.coords)[:, ::-1]
        for part in shapely.get_parts(inside)
        if part.geom_type == "LineString" and part.length > 0
    ]


def _touches_seam(polygon: Polygon, block: Block, grid: Grid) -> bool:
    row, col, rows, cols = block.core
    top, bottom, left, right = block.seams(grid)
    x0, y0, x1, y1 = polygon.bounds
    return (
        (top and y0 <= row)
        or (bottom and y1 >= row + rows)
        or (left and x0 <= col)
        or (right and x1 >= col + cols)
    )


def vectorize_block(
    road: np.ndarray,
    block: Block,
    grid: Grid,
    options: VectorizeOptions,
    lines: bool = True,
    surfaces: bool = True,
) -> BlockPieces:
    """Vectorise one block and keep what lies in its core.

    Args:
        road: the block's window thresholded (boolean, True = road; see
            ``roadkd.vectorize.core.road_pixels``).
        block: the block.
        grid: the whole scene's grid.
        options: vectorisation settings.
        lines: make the block's centreline pieces.
        surfaces: make its surface polygons (the two halves of a block may run as two
            tasks, so that the seams can be merged before the last blocks' lines are done).

    Returns:
        The block's centreline pieces and surface polygons, finished where stitching
        cannot change them.
    """
    mask = road_mask(road, grid.resolution_m, options, block.open_sides(grid))
    pieces = BlockPieces(block.index)
    if lines:
        pieces.lines = _block_lines(mask, block, grid, options)
    if surfaces:
        _block_surfaces(mask, block, grid, options, pieces)
    return pieces


def _block_lines(
    mask: np.ndarray, block: Block, grid: Grid, options: VectorizeOptions
) -> list[LinePiece]:
    """The centreline pieces in a block's core (finished where no seam can change them)."""
    size = grid.size_m
    resolution_m = grid.resolution_m
    # distances in metres even when pixels are not square on the ground
    distance_m = ndimage.distance_transform_edt(mask, sampling=(size[1], size[0]))
    graph = centreline_graph(mask, resolution_m, options, distance_m / resolution_m)
    lines: list[LinePiece] = []
    origin = np.array(block.window[:2], float)
    row, col, rows, cols = block.core
    bounds = _core_bounds(block, grid)
    for _, _, coords in graph.edges(data="coords"):
        if len(coords) < 2:
            continue
        pixels = np.clip(np.rint(coords).astype(int), 0, np.array(mask.shape) - 1)
        scene_rows, scene_cols = pixels[:, 0] + block.window[0], pixels[:, 1] + block.window[1]
        mine = (
            (scene_rows >= row)
            & (scene_rows < row + rows)
            & (scene_cols >= col)
            & (scene_cols < col + cols)
        )
        samples = distance_m[pixels[mine, 0], pixels[mine, 1]]
        for k, part in enumerate(clip_path(smooth_path(coords + origin), bounds)):
            # each pixel's width is counted once, with the first piece of its line
            lines.append(LinePiece(part, samples if k == 0 else samples[:0]))
    finish_interior_lines(lines, block, grid, options)
    return lines


def _block_surfaces(
    mask: np.ndarray,
    block: Block,
    grid: Grid,
    options: VectorizeOptions,
    pieces: BlockPieces,
) -> None:
    """Add the core's surface polygons to ``pieces``: finished, or to merge across seams."""
    row, col, rows, cols = block.core
    core = mask[row - block.window[0] : row - block.window[0] + rows,
                col - block.window[1] : col - block.window[1] + cols]  # fmt: skip
    to_scene = Affine.translation(col, row)
    for geometry, _ in shapes(core.astype(np.uint8), mask=core, connectivity=8, transform=to_scene):
        polygon = shape(geometry)
        if _touches_seam(polygon, block, grid):
            pieces.seam_polygons.append(polygon)
        else:
            pieces.surfaces.extend(surface_parts(polygon, grid, options))
