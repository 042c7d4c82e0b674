"""Road graph of a line layer, as the graph metrics (APLS, TOPO) take it.

A road layer drawn by hand or exported from OpenStreetMap is a set of lines whose
junctions are line ends or vertices shared by several lines; its lines are not split at
junctions, and ends that should meet are often a few centimetres apart. Here every line
end and every shared vertex becomes a node; a line end within ``snap_m`` of another line's
interior splits that line there (a T-junction digitised onto a segment); and line ends
within ``snap_m`` of each other are one node. Lines that only cross, without a shared
vertex (a bridge over a road), stay unconnected, as in OpenStreetMap.
"""

import itertools

import networkx as nx
import numpy as np
import shapely
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from shapely import STRtree
from shapely.geometry import LineString
from shapely.ops import substring

#: Vertices closer than this (metres) are the same vertex (reprojection round-off).
SAME_VERTEX_M = 1e-3


def _split_positions(lines: list[LineString], snap_m: float) -> list[list[float]]:
    """Distances along each line at which it must be split (shared vertices, T-junctions)."""
    positions: list[list[float]] = [[] for _ in lines]
    # vertices shared by two lines, or met twice by one (a lollipop), other than its ends
    coords, index = shapely.get_coordinates(lines, return_index=True)
    keys = np.round(coords / SAME_VERTEX_M).astype(np.int64)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    starts = np.r_[True, index[1:] != index[:-1]]
    ends = np.r_[index[1:] != index[:-1], True]
    inner = np.flatnonzero((counts[inverse.ravel()] > 1) & ~starts & ~ends)
    geometries = np.asarray(lines, dtype=object)
    along = shapely.line_locate_point(geometries[index[inner]], shapely.points(coords[inner]))
    for line, distance in zip(index[inner].tolist(), along.tolist(), strict=True):
        positions[line].append(distance)
    # line ends that touch another line's interior
    tips = np.concatenate([shapely.get_point(geometries, i) for i in (0, -1)])
    which, near = STRtree(geometries).query(tips, predicate="dwithin", distance=snap_m)
    along = shapely.line_locate_point(geometries[near], tips[which])
    inside = (along > snap_m) & (along < shapely.length(geometries[near]) - snap_m)
    for line, distance in zip(near[inside].tolist(), along[inside].tolist(), strict=True):
        positions[line].append(distance)
    return positions


def _pieces(line: LineString, cuts: list[float], snap_m: float) -> list[LineString]:
    """The line split at ``cuts`` (distances along it); cuts near its ends are ignored."""
    stops = sorted({0.0, line.length, *(c for c in cuts if snap_m < c < line.length - snap_m)})
    if len(stops) == 2:
        return [line]
    return [substring(line, a, b) for a, b in itertools.pairwise(stops)]


def lines_to_graph(lines: list[LineString], snap_m: float = 1.0) -> nx.MultiGraph:
    """Build the road graph of a set of lines (coordinates in metres).

    Args:
        lines: LineStrings (MultiLineStrings must be split into parts first).
        snap_m: line ends closer than this to each other are one node; a line end closer
            than this to another line's interior splits it there.

    Returns:
        A MultiGraph: node attribute ``xy``, edge attributes ``geometry`` (LineString, its
        ends on the nodes) and ``length``; node keys are integers.
    """
    lines = [line for line in lines if not line.is_empty and line.length > 0]
    graph = nx.MultiGraph()
    if not lines:
        return graph
    pieces = [
        piece
        for line, cuts in zip(lines, _split_positions(lines, snap_m), strict=True)
        for piece in _pieces(line, cuts, snap_m)
    ]
    ends = np.array([c for piece in pieces for c in (piece.coords[0], piece.coords[-1])])[:, :2]
    pairs = cKDTree(ends).query_pairs(snap_m, output_type="ndarray")
    adjacency = coo_array(
        (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(ends), len(ends))
    )
    _, node_of = connected_components(adjacency, directed=False)
    centres = np.zeros((node_of.max() + 1, 2))
    np.add.at(centres, node_of, ends)
    centres /= np.bincount(node_of)[:, None]
    for node, xy in enumerate(centres):
        graph.add_node(node, xy=(float(xy[0]), float(xy[1])))
    for k, piece in enumerate(pieces):
        u, v = int(node_of[2 * k]), int(node_of[2 * k + 1])
        coords = np.asarray(piece.coords)[:, :2]
        coords[0], coords[-1] = centres[u], centres[v]
        geometry = LineString(coords)
        if u == v and geometry.length <= 2 * snap_m:
            continue  # a piece shorter than the snapping tolerance: a node, not a road
        graph.add_edge(u, v, geometry=geometry, length=geometry.length)
    graph.remove_nodes_from([n for n in list(graph.nodes) if graph.degree(n) == 0])
    return graph
