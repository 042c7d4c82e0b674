"""Road probability or mask raster -> centreline LineStrings and surface polygons.

All geometry is built in pixel space (x = column, y = row, pixel corners at integers)
and mapped to the raster's CRS with its affine transform at the end; lengths, widths and
areas are converted to metres on the ground with the scene's pixel size in metres, so
every option works at any ground sampling distance and in any CRS.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.windows import Window
from scipy import ndimage
from shapely.geometry import LineString, Polygon
from skimage.morphology import remove_small_objects, skeletonize

from ..errors import RoadkdError
from ..ground import PixelSteps
from ..io import require_file
from .graph import (
    bridge_gaps,
    extend_dead_ends,
    merge_close_junctions,
    merge_degree_two,
    prune_spurs,
    skeleton_graph,
)
from .options import VectorizeOptions

#: Gaussian smoothing (pixels) of skeleton paths before simplification: a pixel staircase
#: is up to 8 % longer than the road it follows; smoothed, lengths are within ~0.2 %.
SMOOTH_PX = 1.0


@dataclass
class RoadVectors:
    """Vectorised roads.

    Attributes:
        centerlines: LineStrings with ``length_m`` and ``width_m``, in the raster's CRS.
        surface: road surface polygons with ``area_m2``, in the raster's CRS.
        graph: the centreline network (a networkx MultiGraph: two roads may join the same
            junctions, and a ring road is a loop); node attribute ``xy`` (CRS units), edge
            attributes ``geometry`` (LineString), ``length_m`` and ``width_m``.
        work: blocks, workers and time, when the vectors come from a raster.
    """

    centerlines: gpd.GeoDataFrame
    surface: gpd.GeoDataFrame
    graph: nx.MultiGraph
    work: "WorkSummary | None" = None


@dataclass(frozen=True)
class WorkSummary:
    """How a vectorisation ran.

    Attributes:
        blocks: blocks the scene was cut into.
        workers: processes that vectorised them.
        megapixels: pixels in the scene, in millions.
        seconds: wall time.
    """

    blocks: int
    workers: int
    megapixels: float
    seconds: float

    @property
    def megapixels_per_second(self) -> float:
        """Throughput."""
        return self.megapixels / self.seconds if self.seconds > 0 else float("inf")

    def describe(self) -> str:
        """One line for a summary: blocks, workers and throughput."""
        blocks = "block" if self.blocks == 1 else "blocks"
        workers = "worker" if self.workers == 1 else "workers"
        speed = self.megapixels_per_second
        return f"{self.blocks} {blocks}, {self.workers} {workers}, {speed:.3g} MP/s"


#: Which sides of an array (top, bottom, left, right) continue into more of the scene.
Sides = tuple[bool, bool, bool, bool]

#: An array that is the whole scene: no side continues.
CLOSED: Sides = (False, False, False, False)


def road_pixels(prob: np.ndarray, threshold: float) -> np.ndarray:
    """Pixels at or above ``threshold``; NaN (nodata) is never road."""
    return np.nan_to_num(prob.astype(np.float32, copy=False), nan=0.0) >= threshold


def _remove_small(mask: np.ndarray, max_size: int, open_sides: Sides) -> np.ndarray:
    """Remove components of ``mask`` of ``max_size`` pixels or fewer.

    A component that touches an open side may go on outside the array and is kept: the
    array is padded there with a strip larger than ``max_size`` that joins everything it
    touches into one large component.
    """
    if not any(open_sides):
        cleaned: np.ndarray = remove_small_objects(mask, max_size=max_size)
        return cleaned
    width = max(1, math.ceil((max_size + 1) / min(mask.shape)))
    top, bottom, left, right = (width if side else 0 for side in open_sides)
    padded = np.pad(mask, ((top, bottom), (left, right)), constant_values=True)
    kept: np.ndarray = remove_small_objects(padded, max_size=max_size)
    return kept[top : top + mask.shape[0], left : left + mask.shape[1]]


def road_mask(
    prob: np.ndarray,
    resolution_m: float,
    options: VectorizeOptions,
    open_sides: Sides = CLOSED,
) -> np.ndarray:
    """Threshold and clean a probability map: drop specks, fill small holes.

    Args:
        prob: (H, W) road probability or 0/1 mask; NaN (nodata) is never road. A boolean
            array is taken as already thresholded.
        resolution_m: ground size of a pixel in metres.
        options: vectorisation settings (``threshold``, ``min_blob_m2``, ``max_hole_m2``).
        open_sides: for a block of a larger scene, the sides (top, bottom, left, right)
            where the scene goes on: specks and holes that touch them are left alone,
            because only the whole scene can tell their size.

    Returns:
        (H, W) boolean road mask.
    """
    mask = prob if prob.dtype == bool else road_pixels(prob, options.threshold)
    pixel_area = resolution_m**2
    blob_px = max(1, int(options.min_blob_m2 / pixel_area))
    hole_px = max(1, int(options.max_hole_m2 / pixel_area))
    mask = _remove_small(mask, blob_px, open_sides)
    return ~_remove_small(~mask, hole_px, open_sides)


def centreline_graph(
    mask: np.ndarray,
    resolution_m: float,
    options: VectorizeOptions,
    distance_px: np.ndarray | None = None,
) -> nx.MultiGraph:
    """Skeletonise a road mask and clean its graph (pixel coordinates).

    Every step here looks at most a few road widths or metre settings away, so a block
    read with a halo gives the whole scene's graph inside its core. Dropping small
    networks needs the whole network and runs on the stitched graph
    (``roadkd.vectorize.stitch``).

    The mask is extended past the raster edges before skeletonising, so roads that leave
    the scene keep their full length instead of stopping half a width short of the border.

    Args:
        mask: (H, W) boolean road mask.
        resolution_m: ground size of a pixel in metres.
        options: vectorisation settings.
        distance_px: the mask's distance transform in pixels, if already computed.

    Returns:
        A multigraph whose nodes carry ``rc`` (row, col) and edges ``coords`` (pixel paths).
    """
    if distance_px is None:
        distance_px = ndimage.distance_transform_edt(mask)
    # Past the edges by more than the widest road's half width there, at any resolution:
    # a fixed few pixels let wide roads at fine resolutions stop short of the border.
    edges = (distance_px[0], distance_px[-1], distance_px[:, 0], distance_px[:, -1])
    pad = int(np.ceil(max(float(e.max(initial=0.0)) for e in edges))) + 8
    padded = np.pad(mask, pad, mode="edge")
    skeleton = skeletonize(padded)[pad:-pad, pad:-pad]
    graph = skeleton_graph(skeleton)
    merge_degree_two(graph)
    prune_spurs(graph, options.min_spur_m / resolution_m)
    merge_close_junctions(graph, options.junction_m / resolution_m, distance_px)
    bridge_gaps(graph, options.bridge_m / resolution_m, options.bridge_angle_deg)
    if options.extend_ends:
        extend_dead_ends(graph, mask, distance_px)
    return graph


def smooth_path(coords: np.ndarray) -> np.ndarray:
    """Gaussian-smooth a pixel path, keeping its two ends where they are (on the nodes)."""
    if len(coords) < 3:
        return coords
    smooth: np.ndarray = ndimage.gaussian_filter1d(coords, SMOOTH_PX, axis=0, mode="nearest")
    smooth[0], smooth[-1] = coords[0], coords[-1]
    return smooth


def affine_params(transform: Affine) -> list[float]:
    """Shapely's affine parameters for a rasterio transform."""
    return [transform.a, transform.b, transform.d, transform.e, transform.xoff, transform.yoff]


def ground_length(line: LineString, steps_m: PixelSteps) -> float:
    """Length in metres of a pixel-space line (x = column, y = row).

    Args:
        line: the line in pixel coordinates.
        steps_m: the ground vectors of a column step and a row step
            (:func:`roadkd.ground.pixel_steps_m`), so that a slanted line on a sheared or
            rotated grid measures right.
    """
    xy = np.asarray(line.coords)
    ground = np.diff(xy, axis=0) @ np.asarray(steps_m)
    return float(np.hypot(ground[:, 0], ground[:, 1]).sum())


def polygonal_parts(geometry: shapely.Geometry) -> list[Polygon]:
    """The non-empty polygons in a geometry (``make_valid`` may return a collection)."""
    polygons: list[Polygon] = []
    for part in shapely.get_parts(geometry):
        if isinstance(part, Polygon):
            if not part.is_empty:
                polygons.append(part)
        elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
            polygons.extend(polygonal_parts(part))
    return polygons


@dataclass(frozen=True)
class RoadRaster:
    """A probability or mask raster, checked once and then read window by window.

    Attributes:
        path: the raster file.
        height: rows.
        width: columns.
        transform: its affine transform.
        crs: its CRS.
        scale: factor to [0, 1] (1/255 for a 0/255 mask or 0-255 probabilities).
    """

    path: Path
    height: int
    width: int
    transform: Affine
    crs: CRS
    scale: float


#: Pixels read at a time while a uint8 raster is scanned for values above 1.
_SCAN_PIXELS = 1 << 24


def open_road_raster(path: str | Path) -> RoadRaster:
    """Check a probability or mask raster (band 1) without reading it whole.

    A uint8 raster with values above 1 (a 0/255 mask, or probabilities scaled to 0-255)
    is divided by 255; finding out reads it once, a strip at a time. Other rasters must
    already hold values in [0, 1] (checked as each window is read).

    Raises:
        RoadkdError: if the file is missing, unreadable or has no CRS.
    """
    raster = require_file(path, "raster")
    try:
        with rasterio.open(raster) as src:
            if src.crs is None:
                raise RoadkdError(
                    f"{raster} has no coordinate reference system; georeference it first "
                    "(e.g. gdal_edit.py -a_srs EPSG:XXXX)"
                )
            scale = 1.0
            if src.dtypes[0] == "uint8":
                strip = max(1, _SCAN_PIXELS // src.width)
                for row in range(0, src.height, strip):
                    window = Window(0, row, src.width, min(strip, src.height - row))
                    band = src.read(1, window=window, masked=True)
                    if band.count() and band.max() > 1:
                        scale = 1 / 255
                        break
            return RoadRaster(raster, src.height, src.width, src.transform, src.crs, scale)
    except RasterioError as err:
        raise RoadkdError(f"cannot read {raster}: not a raster GDAL can open ({err})") from err


def read_road_window(raster: RoadRaster, row: int, col: int, rows: int, cols: int) -> np.ndarray:
    """Read a window of band 1 as float32 in [0, 1], nodata as NaN.

    Raises:
        RoadkdError: if the window cannot be read or holds values that are neither
            probabilities nor a 0/1 mask.
    """
    try:
        with rasterio.open(raster.path) as src:
            band = src.read(1, window=Window(col, row, cols, rows), masked=True)
    except RasterioError as err:
        raise RoadkdError(f"cannot read {raster.path}: {err}") from err
    data: np.ndarray = band.astype(np.float32).filled(np.nan)
    if band.count() == 0:
        return data
    if raster.scale != 1.0:
        data *= np.float32(raster.scale)
        return data
    low, high = float(band.min()), float(band.max())
    if low < 0 or high > 1 + 1e-6:
        raise RoadkdError(
            f"{raster.path} holds values from {low:g} to {high:g}: expected road probabilities "
            "in [0, 1] or a 0/1 mask"
        )
    return data


def read_road_raster(path: str | Path) -> tuple[np.ndarray, Affine, CRS]:
    """Read band 1 of a small probability or mask raster whole (see ``open_road_raster``).

    ``roadkd.vectorize.vectorize_raster`` never does this: it reads blocks.

    Args:
        path: raster file (GeoTIFF or anything GDAL reads).

    Returns:
        (values as float32 in [0, 1] with NaN for nodata, transform, CRS).

    Raises:
        RoadkdError: if the file is missing, unreadable, has no CRS or holds values that
            are neither probabilities nor a 0/1 mask.
    """
    raster = open_road_raster(path)
    values = read_road_window(raster, 0, 0, raster.height, raster.width)
    return values, raster.transform, raster.crs
