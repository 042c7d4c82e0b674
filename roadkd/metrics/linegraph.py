"""Road graph of a line layer, as the graph metrics (APLS, TOPO) take it.

A road layer drawn by hand, by a municipality or exported from OpenStreetMap is a set of
lines that are rarely split where roads meet: two streets cross without a shared vertex,
a side street ends a few centimetres off the main one, a road is drawn in several pieces,
some reversed, some twice, some stored as one MultiLineString. The graph built here is the
same whichever of these ways the network is drawn:

- every line end and every vertex shared by two lines is a node; line ends closer than
  ``snap_m`` are one node, and a line end closer than ``snap_m`` to another line is moved
  onto it (a T-junction digitised onto a segment);
- lines that cross meet there (``crossings="junction"``), unless they are on different
  ``levels`` (a bridge over a road: OpenStreetMap's ``bridge``/``tunnel``/``layer``), or
  ``crossings="apart"`` keeps every crossing without a shared vertex apart. Lines on
  different levels meet only where one of them ends on a vertex of the other (a bridge's
  end joining the road it continues);
- duplicated and overlapping stretches count once (the lines are noded and dissolved with
  shapely's ``union_all``, coordinates on a 1 mm grid); stubs shorter than ``snap_m``
  past a junction (overshoots) are dropped; a node that only joins two edges is dissolved,
  so a road split in pieces is one edge, as when drawn in one piece.

Edges and nodes come out in a canonical order (from the geometry, not from the input
order), so two drawings of one network give the same graph.
"""

from collections import defaultdict
from collections.abc import Hashable, Sequence
from typing import Literal

import networkx as nx
import numpy as np
import shapely
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from shapely import STRtree
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry

#: Coordinates are rounded to this grid (metres): vertices closer than this are one vertex
#: (reprojection round-off), and lines are noded robustly (snap rounding).
GRID_M = 1e-3

#: How lines meet where they cross without a shared vertex (lines on one level).
Crossings = Literal["junction", "apart"]

#: A line's role at a node: it ends there, has an interior vertex there, or passes through.
END, VERTEX, THROUGH = 0, 1, 2


def _level_codes(levels: Sequence[Hashable] | None, count: int) -> np.ndarray:
    """One integer per line, equal for lines on the same level."""
    if levels is None:
        return np.zeros(count, np.int64)
    if len(levels) != count:
        raise ValueError(f"{len(levels)} levels for {count} lines")
    codes: dict[Hashable, int] = {}
    return np.array([codes.setdefault(level, len(codes)) for level in levels], np.int64)


def _snap_ends(lines: np.ndarray, level: np.ndarray, snap_m: float) -> np.ndarray:
    """Lines with their ends snapped.

    Ends within ``snap_m`` of each other move to their mean; a lone end within ``snap_m``
    of another line of its level moves onto it.
    """
    coords, index = shapely.get_coordinates(lines, return_index=True)
    first = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    last = np.r_[first[1:] - 1, len(index) - 1]
    at = np.concatenate([first, last])  # row of each end in coords; line i: ends i and n + i
    ends = coords[at]
    pairs = cKDTree(ends).query_pairs(snap_m, output_type="ndarray")
    adjacency = coo_array(
        (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(ends), len(ends))
    )
    _, cluster = connected_components(adjacency, directed=False)
    sizes = np.bincount(cluster)
    centres = np.zeros((len(sizes), 2))
    np.add.at(centres, cluster, ends)
    centres /= sizes[:, None]
    coords[at] = centres[cluster]
    # a lone end near another line: onto that line (a T-junction drawn a little off it)
    lone = np.flatnonzero(sizes[cluster] == 1)
    owner = np.concatenate([np.arange(len(lines))] * 2)[lone]
    tips = shapely.points(coords[at[lone]])
    which, near = STRtree(lines).query(tips, predicate="dwithin", distance=snap_m)
    # a lone end joins the line it ends on, whatever the crossings rule, on its level only
    allowed = (near != owner[which]) & (level[near] == level[owner[which]])
    which, near = which[allowed], near[allowed]
    distance = shapely.distance(tips[which], lines[near])
    order = np.lexsort((near, distance, which))
    which, near, distance = which[order], near[order], distance[order]
    nearest = np.r_[True, which[1:] != which[:-1]] & (distance > GRID_M / 2)
    which, near = which[nearest], near[nearest]
    onto = shapely.line_interpolate_point(
        lines[near], shapely.line_locate_point(lines[near], tips[which])
    )
    coords[at[lone[which]]] = shapely.get_coordinates(onto)
    return np.asarray(shapely.linestrings(coords, indices=index))


def _node_roles(parts: np.ndarray, node_keys: np.ndarray) -> dict[tuple[int, int], int]:
    """(node, line) -> END or VERTEX, for every line with a vertex on a node."""
    coords, index = shapely.get_coordinates(parts, return_index=True)
    keys = np.round(coords / GRID_M).astype(np.int64)
    _, inverse = np.unique(np.vstack([node_keys, keys]), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    node_of = np.full(inverse.max() + 1, -1)
    node_of[inverse[: len(node_keys)]] = np.arange(len(node_keys))
    hit = node_of[inverse[len(node_keys) :]]
    first = np.r_[True, index[1:] != index[:-1]]
    last = np.r_[index[1:] != index[:-1], True]
    roles: dict[tuple[int, int], int] = {}
    for row in np.flatnonzero(hit >= 0).tolist():
        key = (int(hit[row]), int(index[row]))
        role = END if first[row] or last[row] else VERTEX
        roles[key] = min(role, roles.get(key, VERTEX))
    return roles


def _meet(role_a: int, role_b: int, same_level: bool, crossings: Crossings) -> bool:
    """Whether two lines at one node meet there (see the module's rules)."""
    if same_level and crossings == "junction":
        return True
    if same_level:  # crossings apart: a vertex shared by both
        return role_a != THROUGH and role_b != THROUGH
    # different levels: where one ends on a vertex of the other
    return (role_a == END and role_b != THROUGH) or (role_b == END and role_a != THROUGH)


def _junction_links(
    node: int,
    items: list[int],
    sources: list[np.ndarray],
    roles: dict[tuple[int, int], int],
    level: np.ndarray,
    crossings: Crossings,
) -> list[tuple[int, int]]:
    """Pairs of piece ends (items) at one node that are joined there."""
    by_line: dict[int, list[int]] = defaultdict(list)
    links: list[tuple[int, int]] = []
    for item in items:
        under = sources[item // 2].tolist()
        if not under:  # a piece no line is found under: joined, to be safe
            links.append((items[0], item))
        for line in under:
            by_line[line].append(item)
    # a line's own pieces are one road through the node
    for own in by_line.values():
        links.extend((own[0], other) for other in own[1:])
    lines = list(by_line)
    role = {line: roles.get((node, line), THROUGH) for line in lines}
    for i, a in enumerate(lines):
        for b in lines[i + 1 :]:
            if _meet(role[a], role[b], bool(level[a] == level[b]), crossings):
                links.append((by_line[a][0], by_line[b][0]))
    if crossings == "apart":
        # a lone line end on another line's segment is a T-junction (nothing continues it)
        ending = {item for line in lines if role[line] != THROUGH for item in by_line[line]}
        if len(ending) == 1:
            (end,) = ending
            tip_levels = {int(level[line]) for line in lines if role[line] != THROUGH}
            links.extend(
                (end, by_line[line][0])
                for line in lines
                if role[line] == THROUGH and int(level[line]) in tip_levels
            )
    return links


def _node_of_piece_ends(
    pieces: np.ndarray,
    parts: np.ndarray,
    level: np.ndarray,
    crossings: Crossings,
) -> tuple[np.ndarray, np.ndarray]:
    """Graph node of each piece end (item ``2 * piece + end``) and each node's position.

    Piece ends at one place are one node, except where the rules keep lines apart: then
    the place holds one node per group of lines that meet.
    """
    ends = np.stack(
        [shapely.get_coordinates(shapely.get_point(pieces, i)) for i in (0, -1)], axis=1
    ).reshape(-1, 2)
    keys = np.round(ends / GRID_M).astype(np.int64)
    node_keys, place = np.unique(keys, axis=0, return_inverse=True)
    place = place.ravel()
    degree = np.bincount(place, minlength=len(node_keys))
    rows: list[int] = []
    cols: list[int] = []
    order = np.argsort(place, kind="stable")
    starts = np.r_[0, np.cumsum(degree)[:-1]]
    needs_rules = crossings == "apart" or len(np.unique(level)) > 1
    checked = np.flatnonzero(degree >= 3) if needs_rules else np.zeros(0, np.int64)
    if len(checked):
        middles = shapely.line_interpolate_point(pieces, 0.5, normalized=True)
        piece_of, line_of = STRtree(parts).query(middles, predicate="dwithin", distance=GRID_M)
        by_piece = np.lexsort((line_of, piece_of))
        piece_of, line_of = piece_of[by_piece], line_of[by_piece]
        sources = np.split(line_of, np.searchsorted(piece_of, np.arange(1, len(pieces))))
        roles = _node_roles(parts, node_keys)
        for node in checked.tolist():
            items = order[starts[node] : starts[node] + degree[node]].tolist()
            for a, b in _junction_links(node, items, sources, roles, level, crossings):
                rows.append(a)
                cols.append(b)
    # every other place: all piece ends there are one node
    plain = np.ones(len(node_keys), bool)
    plain[checked] = False
    sorted_place = place[order]
    same = (sorted_place[1:] == sorted_place[:-1]) & plain[sorted_place[1:]]
    first_of = order[starts[sorted_place[1:][same]]]
    rows.extend(first_of.tolist())
    cols.extend(order[1:][same].tolist())
    adjacency = coo_array(
        (np.ones(len(rows)), (np.array(rows, np.int64), np.array(cols, np.int64))),
        shape=(len(ends), len(ends)),
    )
    _, node_of = connected_components(adjacency, directed=False)
    xy = np.zeros((node_of.max() + 1, 2))
    xy[node_of] = ends
    return node_of, xy


def _drop_stubs(graph: nx.MultiGraph, snap_m: float) -> None:
    """Remove what is shorter than the snapping tolerance.

    Overshoots (dead ends shorter than ``snap_m`` off a junction), specks and loops no
    longer than ``2 * snap_m``.
    """
    doomed = []
    for u, v, key, length in graph.edges(keys=True, data="length"):
        if u == v:
            short = length <= 2 * snap_m
        else:
            low, high = sorted((graph.degree(u), graph.degree(v)))
            short = length < snap_m and low == 1 and high != 2
        if short:
            doomed.append((u, v, key))
    graph.remove_edges_from(doomed)


def _dissolve_pass_nodes(graph: nx.MultiGraph) -> None:
    """Join the two edges of every node that only connects them into one edge."""
    for node in list(graph.nodes):
        edges = list(graph.edges(node, keys=True, data=True))
        if len(edges) != 2 or any(v == node for _, v, _, _ in edges):
            continue
        paths = []
        for _, other, key, data in edges:
            coords = np.asarray(data["geometry"].coords)
            # oriented from the other node to this one
            paths.append(coords if data["start"] != node else coords[::-1])
            graph.remove_edge(node, other, key)
        (_, a, _, _), (_, b, _, _) = edges
        line = LineString(np.vstack([paths[0], paths[1][::-1][1:]]))
        graph.add_edge(a, b, geometry=line, length=line.length, start=a)
        graph.remove_node(node)


def _canonical(coords: np.ndarray, lone_ring: bool) -> tuple[np.ndarray, bool]:
    """A line's coordinates in a fixed orientation, and whether they were reversed.

    A ring alone on its node starts at its lowest vertex.
    """
    if lone_ring:
        start = int(np.lexsort((coords[:-1, 1], coords[:-1, 0]))[0])
        coords = np.vstack([coords[start:-1], coords[: start + 1]])
    # the lower end first; a loop: the lower of its second and last-but-one vertices
    head, tail = coords[[0, 1]].tolist(), coords[[-1, -2]].tolist()
    if tail < head:
        return coords[::-1], True
    return coords, False


def _relabelled(graph: nx.MultiGraph) -> nx.MultiGraph:
    """The graph with edges in geometric order and nodes numbered in that order."""
    edges = []
    for u, v, data in graph.edges(data=True):
        ends = (u, v) if data["start"] == u else (v, u)
        coords, reversed_ = _canonical(
            np.asarray(data["geometry"].coords), u == v and graph.degree(u) == 2
        )
        edges.append((coords.tolist(), ends[::-1] if reversed_ else ends, coords))
    edges.sort(key=lambda edge: edge[0])
    number: dict[int, int] = {}
    out = nx.MultiGraph()
    for _, ends, coords in edges:
        for node, (x, y) in zip(ends, (coords[0], coords[-1]), strict=True):
            if node not in number:
                number[node] = len(number)
                out.add_node(number[node], xy=(float(x), float(y)))
        line = LineString(coords)
        out.add_edge(number[ends[0]], number[ends[1]], geometry=line, length=line.length)
    return out


def lines_to_graph(
    lines: Sequence[BaseGeometry],
    snap_m: float = 1.0,
    levels: Sequence[Hashable] | None = None,
    crossings: Crossings = "junction",
) -> nx.MultiGraph:
    """Build the road graph of a set of lines (coordinates in metres).

    Args:
        lines: LineStrings or MultiLineStrings, in any order, direction or splitting.
        snap_m: line ends closer than this to each other are one node; a line end closer
            than this to another line is moved onto it; a dead end shorter than this off a
            junction is an overshoot, dropped.
        levels: one value per line (e.g. OpenStreetMap's bridge/tunnel/layer): lines on
            different levels do not meet where they cross, only where one ends on a vertex
            of the other. None: every line on one level.
        crossings: where two lines of one level cross without a shared vertex:
            ``"junction"`` (they meet) or ``"apart"`` (they do not, as in OpenStreetMap).

    Returns:
        A MultiGraph: node attribute ``xy``, edge attributes ``geometry`` (LineString, its
        ends on the nodes) and ``length``; node keys are integers, in canonical order.
    """
    geometries = np.asarray(lines, dtype=object)
    code = _level_codes(levels, len(geometries))
    parts, owner = shapely.get_parts(geometries, return_index=True)
    keep = (shapely.get_type_id(parts) == 1) & (shapely.length(parts) > 0)
    parts, level = parts[keep], code[owner[keep]]
    graph = nx.MultiGraph()
    if len(parts) == 0:
        return graph
    parts = shapely.set_precision(_snap_ends(parts, level, snap_m), GRID_M)
    keep = ~shapely.is_empty(parts) & (shapely.length(parts) > 0)
    parts, level = parts[keep], level[keep]
    if len(parts) == 0:
        return graph
    pieces = shapely.get_parts(shapely.union_all(parts, grid_size=GRID_M))
    pieces = pieces[(shapely.get_type_id(pieces) == 1) & (shapely.length(pieces) > 0)]
    node_of, xy = _node_of_piece_ends(pieces, parts, level, crossings)
    for node, (x, y) in enumerate(xy.tolist()):
        graph.add_node(node, xy=(x, y))
    for k, piece in enumerate(pieces.tolist()):
        u, v = int(node_of[2 * k]), int(node_of[2 * k + 1])
        graph.add_edge(u, v, geometry=piece, length=piece.length, start=u)
    _drop_stubs(graph, snap_m)
    _dissolve_pass_nodes(graph)
    graph.remove_nodes_from([n for n in list(graph.nodes) if graph.degree(n) == 0])
    return _relabelled(graph)
