"""Stitch the pieces of every block into the scene's road vectors.

Line pieces that end at the same point (on a seam, or at a junction) become one node;
the pieces of a road cut by seams are joined again at the nodes where only they meet
(``merge_degree_two``), junctions on a seam gather the pieces from both sides, and the
step that needs the whole network (dropping small networks) runs on the stitched graph.
Surface polygons that touch a seam are merged with their neighbours (``unary_union``).
Simplification, lengths and widths are measured on whole lines and polygons: those that
no seam cuts were finished by their block's worker (``roadkd.vectorize.blocks``), the
others here once joined, the same way, so a result does not depend on the block size.
"""

from collections.abc import Iterable
from concurrent.futures import Future

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from shapely.geometry import Polygon

from ..grid import Grid
from .blocks import (
    BlockPieces,
    LineFeature,
    LinePiece,
    SurfacePart,
    line_feature,
    snap_ends,
    surface_parts,
)
from .core import polygonal_parts
from .graph import drop_small_networks, merge_degree_two, path_length
from .options import VectorizeOptions
from .result import RoadVectors


def stitch_lines(lines: list[LinePiece]) -> nx.MultiGraph:
    """Join line pieces into a graph whose edges run junction to junction (pixels).

    Returns:
        A multigraph with node attribute ``rc`` and edge attributes ``coords`` and
        ``samples``, as ``roadkd.vectorize.graph`` builds them, and ``feature`` (with
        ``length_px``) on the lines a block finished.
    """
    graph = nx.MultiGraph()
    lines = [line for line in lines if line.feature is not None or path_length(line.coords) > 0]
    if not lines:
        return graph
    ends = np.array([[line.coords[0], line.coords[-1]] for line in lines]).reshape(-1, 2)
    node_of = snap_ends(ends)
    for i, line in enumerate(lines):
        a, b = int(node_of[2 * i]), int(node_of[2 * i + 1])
        for node, end in ((a, ends[2 * i]), (b, ends[2 * i + 1])):
            if node not in graph:
                graph.add_node(node, rc=end)
        coords = line.coords.copy()
        coords[0], coords[-1] = graph.nodes[a]["rc"], graph.nodes[b]["rc"]
        if line.feature is None:
            graph.add_edge(a, b, coords=coords, samples=line.samples)
        else:
            feature = line.feature
            graph.add_edge(a, b, coords=coords, feature=feature, length_px=feature.length_px)
    # Every node of degree two is a seam crossing: a block's graph has none of its own.
    return merge_degree_two(graph)


def _centreline_layers(
    graph: nx.MultiGraph, grid: Grid, options: VectorizeOptions
) -> tuple[gpd.GeoDataFrame, nx.MultiGraph]:
    """Centreline features and the network in the CRS, from the stitched pixel graph."""
    world = nx.MultiGraph()
    for node, rc in graph.nodes(data="rc"):
        x, y = grid.transform @ (rc[1] + 0.5, rc[0] + 0.5)
        world.add_node(node, xy=(float(x), float(y)))
    features: list[LineFeature] = []
    for u, v, data in graph.edges(data=True):
        feature = data.get("feature") or line_feature(
            data["coords"], data["samples"], grid, options
        )
        features.append(feature)
        world.add_edge(
            u, v, geometry=feature.geometry, length_m=feature.length_m, width_m=feature.width_m
        )
    centerlines = gpd.GeoDataFrame(
        {
            "length_m": np.asarray([f.length_m for f in features], float),
            "width_m": np.asarray([f.width_m for f in features], float),
        },
        geometry=gpd.GeoSeries([f.geometry for f in features], crs=grid.crs, dtype="geometry"),
    )
    return centerlines, world


def merge_seam_polygons(
    seam_polygons: list[Polygon], grid: Grid, options: VectorizeOptions
) -> list[SurfacePart]:
    """The finished surface polygons of the polygons that touch seams, merged across them."""
    if not seam_polygons:
        return []
    merged = polygonal_parts(shapely.unary_union(seam_polygons))
    return [part for polygon in merged for part in surface_parts(polygon, grid, options)]


def _surface_layer(parts: list[SurfacePart], grid: Grid) -> gpd.GeoDataFrame:
    """The surface layer of finished polygons."""
    return gpd.GeoDataFrame(
        {"area_m2": np.asarray([part.area_m2 for part in parts], float)},
        geometry=gpd.GeoSeries([part.geometry for part in parts], crs=grid.crs, dtype="geometry"),
    )


def assemble(
    pieces: Iterable[BlockPieces],
    grid: Grid,
    options: VectorizeOptions,
    seams: "Future[list[SurfacePart]] | None" = None,
) -> RoadVectors:
    """Stitch every block's pieces into the scene's centrelines, surfaces and graph.

    Args:
        pieces: one ``BlockPieces`` per block, in block order (the order fixes the
            order of the features, not their geometry).
        grid: the scene's grid.
        options: vectorisation settings.
        seams: the merge of the seam polygons (``merge_seam_polygons``), under way in a
            worker while this process stitches the lines; None: merged here, after them.

    Returns:
        The scene's road vectors in its CRS.
    """
    lines: list[LinePiece] = []
    surfaces: list[SurfacePart] = []
    seam_polygons: list[Polygon] = []
    for block in pieces:
        lines.extend(block.lines)
        surfaces.extend(block.surfaces)
        seam_polygons.extend(block.seam_polygons)
    graph = stitch_lines(lines)
    drop_small_networks(graph, options.min_network_m / grid.resolution_m)
    centerlines, world = _centreline_layers(graph, grid, options)
    seam_surfaces = (
        merge_seam_polygons(seam_polygons, grid, options) if seams is None else seams.result()
    )
    surface = _surface_layer(surfaces + seam_surfaces, grid)
    return RoadVectors(centerlines=centerlines, surface=surface, graph=world)
