"""Stitch the pieces of every block into the scene's road vectors.

Line pieces that end at the same point (on a seam, or at a junction) become one node;
the pieces of a road cut by seams are joined again at the nodes where only they meet
(``merge_degree_two``), junctions on a seam gather the pieces from both sides, and the
step that needs the whole network (dropping small networks) runs on the stitched graph.
Surface polygons that touch a seam are merged with their neighbours (``unary_union``).
Simplification, lengths and widths are measured on the stitched lines, so a result does
not depend on the block size.
"""

from collections.abc import Iterable

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from shapely.affinity import affine_transform
from shapely.geometry import LineString, Polygon

from .blocks import BlockPieces, LinePiece, SceneGrid
from .core import RoadVectors, affine_params, ground_length, polygonal_parts
from .graph import drop_small_networks, merge_degree_two, path_length
from .options import VectorizeOptions

#: Line ends closer than this (pixels) are the same point: the two sides of a seam
#: compute their crossing from the same path, up to floating-point rounding.
SNAP_PX = 1e-3


def stitch_lines(lines: list[LinePiece]) -> nx.MultiGraph:
    """Join line pieces into a graph whose edges run junction to junction (pixels).

    Returns:
        A multigraph with node attribute ``rc`` and edge attributes ``coords`` and
        ``samples``, as ``roadkd.vectorize.graph`` builds them.
    """
    graph = nx.MultiGraph()
    lines = [line for line in lines if path_length(line.coords) > 0]
    if not lines:
        return graph
    ends = np.array([[line.coords[0], line.coords[-1]] for line in lines]).reshape(-1, 2)
    pairs = cKDTree(ends).query_pairs(SNAP_PX, output_type="ndarray")
    links = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(ends),) * 2)
    _, node_of = connected_components(links, directed=False)
    for i, line in enumerate(lines):
        a, b = int(node_of[2 * i]), int(node_of[2 * i + 1])
        for node, end in ((a, ends[2 * i]), (b, ends[2 * i + 1])):
            if node not in graph:
                graph.add_node(node, rc=end)
        coords = line.coords.copy()
        coords[0], coords[-1] = graph.nodes[a]["rc"], graph.nodes[b]["rc"]
        graph.add_edge(a, b, coords=coords, samples=line.samples)
    # Every node of degree two is a seam crossing: a block's graph has none of its own.
    return merge_degree_two(graph)


def _centreline_layers(
    graph: nx.MultiGraph, grid: SceneGrid, options: VectorizeOptions
) -> tuple[gpd.GeoDataFrame, nx.MultiGraph]:
    """Centreline features and the network in the CRS, from the stitched pixel graph."""
    tolerance_px = 1.0 if options.simplify_m is None else options.simplify_m / grid.resolution_m
    to_crs = affine_params(grid.transform)
    world = nx.MultiGraph()
    for node, rc in graph.nodes(data="rc"):
        x, y = grid.transform @ (rc[1] + 0.5, rc[0] + 0.5)
        world.add_node(node, xy=(float(x), float(y)))
    lines, lengths, widths = [], [], []
    for u, v, data in graph.edges(data=True):
        samples = data["samples"]
        width_m = round(float(2 * np.median(samples)), 2) if len(samples) else 0.0
        pixel_line = LineString(data["coords"][:, ::-1] + 0.5).simplify(tolerance_px)
        length_m = round(ground_length(pixel_line, grid.size_m), 2)
        line = affine_transform(pixel_line, to_crs)
        lines.append(line)
        lengths.append(length_m)
        widths.append(width_m)
        world.add_edge(u, v, geometry=line, length_m=length_m, width_m=width_m)
    centerlines = gpd.GeoDataFrame(
        {"length_m": np.asarray(lengths, float), "width_m": np.asarray(widths, float)},
        geometry=gpd.GeoSeries(lines, crs=grid.crs, dtype="geometry"),
    )
    return centerlines, world


def _surface_layer(
    polygons: list[Polygon],
    seam_polygons: list[Polygon],
    grid: SceneGrid,
    options: VectorizeOptions,
) -> gpd.GeoDataFrame:
    """Surface features in the CRS: seam polygons merged, all simplified and filtered."""
    tolerance_px = 1.0 if options.simplify_m is None else options.simplify_m / grid.resolution_m
    to_crs = affine_params(grid.transform)
    if seam_polygons:
        polygons = polygons + polygonal_parts(shapely.unary_union(seam_polygons))
    pixel_area_m2 = grid.size_m[0] * grid.size_m[1]
    kept, areas = [], []
    for polygon in polygons:
        # Douglas-Peucker depends on where a ring starts: start every ring at the same
        # vertex, without the seams' straight-through vertices, whatever the blocks were.
        plain = shapely.normalize(polygon.simplify(0))
        simple = plain.simplify(tolerance_px, preserve_topology=True)
        for part in polygonal_parts(shapely.make_valid(simple)):
            area_m2 = part.area * pixel_area_m2
            if area_m2 >= options.min_polygon_m2:
                kept.append(affine_transform(part, to_crs))
                areas.append(round(area_m2, 2))
    return gpd.GeoDataFrame(
        {"area_m2": np.asarray(areas, float)},
        geometry=gpd.GeoSeries(kept, crs=grid.crs, dtype="geometry"),
    )


def assemble(
    pieces: Iterable[BlockPieces], grid: SceneGrid, options: VectorizeOptions
) -> RoadVectors:
    """Stitch every block's pieces into the scene's centrelines, surfaces and graph.

    Args:
        pieces: one ``BlockPieces`` per block, in block order (the order fixes the
            order of the features, not their geometry).
        grid: the scene's grid.
        options: vectorisation settings.

    Returns:
        The scene's road vectors in its CRS.
    """
    lines: list[LinePiece] = []
    polygons: list[Polygon] = []
    seam_polygons: list[Polygon] = []
    for block in pieces:
        lines.extend(block.lines)
        polygons.extend(block.polygons)
        seam_polygons.extend(block.seam_polygons)
    graph = stitch_lines(lines)
    drop_small_networks(graph, options.min_network_m / grid.resolution_m)
    centerlines, world = _centreline_layers(graph, grid, options)
    surface = _surface_layer(polygons, seam_polygons, grid, options)
    return RoadVectors(centerlines=centerlines, surface=surface, graph=world)
