"""Road probability or mask raster -> centreline LineStrings and surface polygons."""

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import RasterioIOError
from rasterio.features import shapes
from scipy import ndimage
from shapely.geometry import LineString, shape
from skimage.morphology import remove_small_holes, remove_small_objects, skeletonize

from ..errors import RoadkdError
from ..io import require_file
from .graph import (
    bridge_gaps,
    drop_small_networks,
    merge_degree_two,
    path_length,
    prune_spurs,
    skeleton_graph,
)
from .options import VectorizeOptions


@dataclass
class RoadVectors:
    """Vectorised roads.

    Attributes:
        centerlines: LineStrings with ``length_m`` and ``width_m``, in the raster's CRS.
        surface: road surface polygons with ``area_m2``, in the raster's CRS.
        graph: the centreline network; node attribute ``xy`` (CRS units), edge attributes
            ``geometry`` (LineString) and ``length_m``.
    """

    centerlines: gpd.GeoDataFrame
    surface: gpd.GeoDataFrame
    graph: nx.Graph


def road_mask(prob: np.ndarray, resolution_m: float, options: VectorizeOptions) -> np.ndarray:
    """Threshold and clean a probability map: drop specks, fill small holes.

    NaN (nodata) pixels are never road.
    """
    mask = np.nan_to_num(prob.astype(np.float32), nan=0.0) >= options.threshold
    pixel_area = resolution_m**2
    mask = remove_small_objects(mask, max_size=max(1, int(options.min_blob_m2 / pixel_area)))
    return remove_small_holes(mask, max_size=max(1, int(options.max_hole_m2 / pixel_area)))


def centreline_graph(
    mask: np.ndarray, resolution_m: float, options: VectorizeOptions
) -> nx.MultiGraph:
    """Skeletonise a road mask and clean its graph (pixel coordinates).

    The mask is extended past the raster edges before skeletonising, so roads that leave
    the scene keep their full length instead of stopping half a width short of the border.
    """
    pad = 8
    padded = np.pad(mask, pad, mode="edge")
    skeleton = skeletonize(padded)[pad:-pad, pad:-pad]
    graph = skeleton_graph(skeleton)
    merge_degree_two(graph)
    prune_spurs(graph, options.min_spur_m / resolution_m)
    bridge_gaps(graph, options.bridge_m / resolution_m, options.bridge_angle_deg)
    drop_small_networks(graph, options.min_network_m / resolution_m)
    return graph


def _to_world(coords: np.ndarray, transform: Affine) -> np.ndarray:
    """Pixel row/col (centres) to CRS x/y."""
    cols, rows = coords[:, 1] + 0.5, coords[:, 0] + 0.5
    xs, ys = transform @ (cols, rows)  # type: ignore[operator]
    return np.column_stack([xs, ys])


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
        crs: the raster's CRS.
        options: vectorisation settings.

    Returns:
        Centrelines, surface polygons and the centreline graph.
    """
    opts = options or VectorizeOptions()
    resolution_m = float(abs(transform.a))
    mask = road_mask(prob, resolution_m, opts)
    distance = ndimage.distance_transform_edt(mask)

    graph = centreline_graph(mask, resolution_m, opts)
    world = nx.Graph()
    lines, lengths, widths = [], [], []
    for u, v, coords in graph.edges(data="coords"):
        if len(coords) < 2:
            continue
        rows = np.clip(coords[:, 0].round().astype(int), 0, mask.shape[0] - 1)
        cols = np.clip(coords[:, 1].round().astype(int), 0, mask.shape[1] - 1)
        width_m = float(2 * np.median(distance[rows, cols]) * resolution_m)
        line = LineString(_to_world(coords, transform))
        length_m = path_length(coords) * resolution_m
        simplified = line.simplify(opts.simplify_m)
        lines.append(simplified)
        lengths.append(round(length_m, 2))
        widths.append(round(width_m, 2))
        for node in (u, v):
            world.add_node(node, xy=tuple(_to_world(graph.nodes[node]["rc"][None], transform)[0]))
        world.add_edge(u, v, geometry=simplified, length_m=length_m)
    centerlines = gpd.GeoDataFrame(
        {"length_m": lengths, "width_m": widths}, geometry=lines, crs=crs
    )

    polygons, areas = [], []
    for geometry, _ in shapes(mask.astype(np.uint8), mask=mask, transform=transform):
        polygon = shapely.make_valid(shape(geometry).simplify(opts.simplify_m))
        if polygon.area >= opts.min_polygon_m2 and not polygon.is_empty:
            polygons.append(polygon)
            areas.append(round(float(polygon.area), 2))
    surface = gpd.GeoDataFrame({"area_m2": areas}, geometry=polygons, crs=crs)
    return RoadVectors(centerlines=centerlines, surface=surface, graph=world)


def read_road_raster(path: str | Path) -> tuple[np.ndarray, Affine, CRS]:
    """Read band 1 of a probability or mask raster, with nodata as NaN.

    Raises:
        RoadkdError: if the file is missing, unreadable or has no CRS.
    """
    raster = require_file(path, "raster")
    try:
        with rasterio.open(raster) as src:
            if src.crs is None:
                raise RoadkdError(f"{raster} has no coordinate reference system")
            data = src.read(1, masked=True).astype(np.float32)
            return data.filled(np.nan), src.transform, src.crs
    except RasterioIOError as err:
        raise RoadkdError(f"cannot read {raster}: not a raster GDAL can open ({err})") from err


def vectorize_raster(path: str | Path, options: VectorizeOptions | None = None) -> RoadVectors:
    """Vectorise a probability or mask GeoTIFF (band 1).

    Args:
        path: raster file.
        options: vectorisation settings.

    Returns:
        Centrelines, surface polygons and the centreline graph, in the raster's CRS.
    """
    prob, transform, crs = read_road_raster(path)
    return vectorize_array(prob, transform, crs, options)
