"""Road probability or mask raster -> centreline LineStrings and surface polygons.

All geometry is built in pixel space (x = column, y = row, pixel corners at integers)
and mapped to the raster's CRS with its affine transform at the end; lengths, widths and
areas are converted to metres on the ground with the scene's pixel size in metres, so
every option works at any ground sampling distance and in any CRS.
"""

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
from rasterio.features import shapes
from scipy import ndimage
from shapely.affinity import affine_transform
from shapely.geometry import LineString, Polygon, shape
from skimage.morphology import remove_small_holes, remove_small_objects, skeletonize

from ..errors import RoadkdError
from ..io import require_file
from .graph import (
    bridge_gaps,
    drop_small_networks,
    extend_dead_ends,
    merge_close_junctions,
    merge_degree_two,
    prune_spurs,
    skeleton_graph,
)
from .options import VectorizeOptions
from .scale import pixel_size_m

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
    """

    centerlines: gpd.GeoDataFrame
    surface: gpd.GeoDataFrame
    graph: nx.MultiGraph


def road_mask(prob: np.ndarray, resolution_m: float, options: VectorizeOptions) -> np.ndarray:
    """Threshold and clean a probability map: drop specks, fill small holes.

    Args:
        prob: (H, W) road probability or 0/1 mask; NaN (nodata) is never road.
        resolution_m: ground size of a pixel in metres.
        options: vectorisation settings (``threshold``, ``min_blob_m2``, ``max_hole_m2``).

    Returns:
        (H, W) boolean road mask.
    """
    mask = np.nan_to_num(prob.astype(np.float32), nan=0.0) >= options.threshold
    pixel_area = resolution_m**2
    mask = remove_small_objects(mask, max_size=max(1, int(options.min_blob_m2 / pixel_area)))
    return remove_small_holes(mask, max_size=max(1, int(options.max_hole_m2 / pixel_area)))


def centreline_graph(
    mask: np.ndarray,
    resolution_m: float,
    options: VectorizeOptions,
    distance_px: np.ndarray | None = None,
) -> nx.MultiGraph:
    """Skeletonise a road mask and clean its graph (pixel coordinates).

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
    pad = 8
    padded = np.pad(mask, pad, mode="edge")
    skeleton = skeletonize(padded)[pad:-pad, pad:-pad]
    graph = skeleton_graph(skeleton)
    merge_degree_two(graph)
    prune_spurs(graph, options.min_spur_m / resolution_m)
    if distance_px is None:
        distance_px = ndimage.distance_transform_edt(mask)
    merge_close_junctions(graph, options.junction_m / resolution_m, distance_px)
    bridge_gaps(graph, options.bridge_m / resolution_m, options.bridge_angle_deg)
    drop_small_networks(graph, options.min_network_m / resolution_m)
    if options.extend_ends:
        extend_dead_ends(graph, mask, distance_px)
    return graph


def _smooth(coords: np.ndarray) -> np.ndarray:
    """Gaussian-smooth a pixel path, keeping its two ends where they are (on the nodes)."""
    if len(coords) < 3:
        return coords
    smooth = ndimage.gaussian_filter1d(coords, SMOOTH_PX, axis=0, mode="nearest")
    smooth[0], smooth[-1] = coords[0], coords[-1]
    return smooth


def _affine_params(transform: Affine) -> list[float]:
    """Shapely's affine parameters for a rasterio transform."""
    return [transform.a, transform.b, transform.d, transform.e, transform.xoff, transform.yoff]


def _ground_length(line: LineString, size: tuple[float, float]) -> float:
    """Length in metres of a pixel-space line, with (metres per column, per row)."""
    xy = np.asarray(line.coords)
    steps = np.diff(xy, axis=0) * np.asarray(size)
    return float(np.hypot(steps[:, 0], steps[:, 1]).sum())


def _polygonal(geometry: shapely.Geometry) -> list[Polygon]:
    """The non-empty polygons in a geometry (``make_valid`` may return a collection)."""
    polygons: list[Polygon] = []
    for part in shapely.get_parts(geometry):
        if isinstance(part, Polygon):
            if not part.is_empty:
                polygons.append(part)
        elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
            polygons.extend(_polygonal(part))
    return polygons


def vectorize_array(
    prob: np.ndarray,
    transform: Affine,
    crs: CRS | str | None,
    options: VectorizeOptions | None = None,
) -> RoadVectors:
    """Vectorise a road probability (or 0/1 mask) array.

    Args:
        prob: (H, W) road probability in [0, 1] (NaN = nodata) or a 0/1 mask.
        transform: the raster's affine transform.
        crs: the raster's CRS (None: units are taken as metres).
        options: vectorisation settings.

    Returns:
        Centrelines, surface polygons and the centreline graph.
    """
    opts = options or VectorizeOptions()
    if prob.ndim != 2:
        raise RoadkdError(f"expected a single-band (H, W) raster, got shape {prob.shape}")
    size = pixel_size_m(transform, crs, prob.shape)
    resolution_m = float(np.sqrt(size[0] * size[1]))
    tolerance_px = 1.0 if opts.simplify_m is None else opts.simplify_m / resolution_m
    to_crs = _affine_params(transform)

    mask = road_mask(prob, resolution_m, opts)
    # distances in metres even when pixels are not square on the ground
    distance_m = ndimage.distance_transform_edt(mask, sampling=(size[1], size[0]))
    graph = centreline_graph(mask, resolution_m, opts, distance_m / resolution_m)

    world = nx.MultiGraph()
    for node, rc in graph.nodes(data="rc"):
        x, y = transform @ (rc[1] + 0.5, rc[0] + 0.5)
        world.add_node(node, xy=(float(x), float(y)))
    lines, lengths, widths = [], [], []
    for u, v, coords in graph.edges(data="coords"):
        if len(coords) < 2:
            continue
        rows = np.clip(coords[:, 0].round().astype(int), 0, mask.shape[0] - 1)
        cols = np.clip(coords[:, 1].round().astype(int), 0, mask.shape[1] - 1)
        width_m = round(float(2 * np.median(distance_m[rows, cols])), 2)
        pixel_line = LineString(_smooth(coords)[:, ::-1] + 0.5).simplify(tolerance_px)
        length_m = round(_ground_length(pixel_line, size), 2)
        line = affine_transform(pixel_line, to_crs)
        lines.append(line)
        lengths.append(length_m)
        widths.append(width_m)
        world.add_edge(u, v, geometry=line, length_m=length_m, width_m=width_m)
    centerlines = gpd.GeoDataFrame(
        {"length_m": np.asarray(lengths, float), "width_m": np.asarray(widths, float)},
        geometry=gpd.GeoSeries(lines, crs=crs, dtype="geometry"),
    )

    polygons, areas = [], []
    pixel_area_m2 = size[0] * size[1]
    for geometry, _ in shapes(mask.astype(np.uint8), mask=mask, connectivity=8):
        simple = shape(geometry).simplify(tolerance_px, preserve_topology=True)
        for part in _polygonal(shapely.make_valid(simple)):
            area_m2 = part.area * pixel_area_m2
            if area_m2 >= opts.min_polygon_m2:
                polygons.append(affine_transform(part, to_crs))
                areas.append(round(area_m2, 2))
    surface = gpd.GeoDataFrame(
        {"area_m2": np.asarray(areas, float)},
        geometry=gpd.GeoSeries(polygons, crs=crs, dtype="geometry"),
    )
    return RoadVectors(centerlines=centerlines, surface=surface, graph=world)


def read_road_raster(path: str | Path) -> tuple[np.ndarray, Affine, CRS]:
    """Read band 1 of a probability or mask raster as float32 in [0, 1], nodata as NaN.

    A uint8 raster with values above 1 (a 0/255 mask, or probabilities scaled to 0-255)
    is divided by 255. Other rasters must already hold values in [0, 1].

    Args:
        path: raster file (GeoTIFF or anything GDAL reads).

    Returns:
        (values, transform, CRS).

    Raises:
        RoadkdError: if the file is missing, unreadable, has no CRS or holds values that
            are neither probabilities nor a 0/1 mask.
    """
    raster = require_file(path, "raster")
    try:
        with rasterio.open(raster) as src:
            if src.crs is None:
                raise RoadkdError(
                    f"{raster} has no coordinate reference system; georeference it first "
                    "(e.g. gdal_edit.py -a_srs EPSG:XXXX)"
                )
            band = src.read(1, masked=True)
            dtype, transform, crs = src.dtypes[0], src.transform, src.crs
    except RasterioError as err:
        raise RoadkdError(f"cannot read {raster}: not a raster GDAL can open ({err})") from err
    data = band.astype(np.float32).filled(np.nan)
    if band.count() == 0:
        return data, transform, crs
    low, high = float(band.min()), float(band.max())
    if dtype == "uint8" and high > 1:
        data /= 255.0
    elif low < 0 or high > 1 + 1e-6:
        raise RoadkdError(
            f"{raster} holds values from {low:g} to {high:g}: expected road probabilities "
            "in [0, 1] or a 0/1 mask"
        )
    return data, transform, crs


def vectorize_raster(path: str | Path, options: VectorizeOptions | None = None) -> RoadVectors:
    """Vectorise a probability or mask GeoTIFF (band 1).

    Args:
        path: raster file.
        options: vectorisation settings.

    Returns:
        Centrelines, surface polygons and the centreline graph, in the raster's CRS.

    Raises:
        RoadkdError: for a missing, unreadable or ungeoreferenced raster.
    """
    prob, transform, crs = read_road_raster(path)
    return vectorize_array(prob, transform, crs, options)
