"""A road mask -> its cleaned mask, its centreline graph and the geometry helpers of both.

All geometry is built in pixel space (x = column, y = row, pixel corners at integers)
and mapped to the raster's CRS with its affine transform at the end; lengths, widths and
areas are converted to metres on the ground with the scene's pixel size in metres, so
every option works at any ground sampling distance and in any CRS.
"""

import math

import networkx as nx
import numpy as np
import shapely
from affine import Affine
from scipy import ndimage
from shapely.geometry import LineString, Polygon
from skimage.morphology import remove_small_objects, skeletonize

from ..ground import PixelSteps
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
    # a fixed few pixels let wide roads at fine resolutions stop short of the border. No
    # further than the widest road (``max_road_width_m``): a paved area filling the border
    # would otherwise pad by its whole extent, and thinning time grows with it.
    edges = (distance_px[0], distance_px[-1], distance_px[:, 0], distance_px[:, -1])
    widest = float(max(e.max(initial=0.0) for e in edges))
    pad = int(np.ceil(min(widest, options.max_road_width_m / resolution_m))) + 8
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
