"""Matching points of one road graph to the edges of another (APLS control points, TOPO seeds).

APLS inserts each control point of one graph into the other at its nearest edge, and TOPO
starts exploring the proposal at the edge nearest a seed. Where two roads cross without
meeting (a bridge over a road), a point on one road is as near to the other: the nearest
edge alone may be the wrong road, and a layer compared with itself would not score 1.
So a point on a road (it has the road's direction there) goes to the nearest edge running
the same way (within 45 degrees) within reach, and to the nearest edge only if none does;
a point without a direction (a junction, a dead end) goes to the nearest edge, and among
edges as near, to one that ends there (the junction itself, as the APLS reference does
when a projection falls on a node).
"""

import math
from collections.abc import Sequence

import numpy as np
import shapely
from shapely import STRtree
from shapely.geometry import LineString

#: Smallest |cos| of the angle between a point's direction and an edge's to be "the same way".
ALIGNED = math.cos(math.radians(45))
#: A direction is taken over this distance (metres) either side of a point.
TANGENT_M = 1.0
#: Distances closer than this (metres) are equal; a projection this close to an edge's
#: end is on its node.
TIE_M = 1e-3


def tangents(lines: np.ndarray, along: np.ndarray) -> np.ndarray:
    """Unit directions of lines at distances along them.

    Args:
        lines: LineStrings.
        along: one distance along each line.

    Returns:
        (N, 2) unit vectors (zero for a line of no length), each the chord over
        ``TANGENT_M`` either side of the point, clipped to the line.
    """
    lengths = shapely.length(lines)
    before = shapely.line_interpolate_point(lines, np.clip(along - TANGENT_M, 0, lengths))
    after = shapely.line_interpolate_point(lines, np.clip(along + TANGENT_M, 0, lengths))
    chord = shapely.get_coordinates(after) - shapely.get_coordinates(before)
    norm = np.hypot(chord[:, 0], chord[:, 1])
    unit: np.ndarray = np.divide(
        chord, norm[:, None], out=np.zeros_like(chord), where=norm[:, None] > 0
    )
    return unit


def match_to_edges(
    points: np.ndarray,
    directions: np.ndarray,
    lines: Sequence[LineString],
    max_distance: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The edge each point is matched to, and where along it.

    Args:
        points: (N, 2) positions.
        directions: (N, 2) the direction of the point's own road there (unit vector),
            zero where it has none (a node).
        lines: the target graph's edges.
        max_distance: points farther than this from every edge match none.

    Returns:
        ``(edge, along)``: for each point the index into ``lines`` (-1: none within
        reach) and the distance along that edge of the point's projection.
    """
    edge_of = np.full(len(points), -1)
    along_of = np.zeros(len(points))
    if len(points) == 0 or len(lines) == 0:
        return edge_of, along_of
    targets = np.asarray(lines, dtype=object)
    geoms = shapely.points(points)
    which, edge = STRtree(targets).query(geoms, predicate="dwithin", distance=max_distance)
    if len(which) == 0:
        return edge_of, along_of
    distance = shapely.distance(geoms[which], targets[edge])
    along = shapely.line_locate_point(targets[edge], geoms[which])
    own = directions[which]
    known = np.any(own != 0, axis=1)
    alignment = np.abs(np.sum(own * tangents(targets[edge], along), axis=1))
    aligned = known & (alignment >= ALIGNED)
    length = shapely.length(targets[edge])
    on_node = ~known & ((along <= TIE_M) | (along >= length - TIE_M))
    # per point, best first: the same way, nearest, ending there, most aligned, lowest index
    order = np.lexsort((edge, -alignment, ~on_node, np.floor(distance / TIE_M), ~aligned, which))
    first = order[np.r_[True, which[order][1:] != which[order][:-1]]]
    edge_of[which[first]] = edge[first]
    along_of[which[first]] = along[first]
    return edge_of, along_of
