"""APLS-style graph score: how well shortest paths in one road graph survive in another.

After CosmiQ's Average Path Length Similarity (SpaceNet 3/5, github.com/CosmiQ/apls). For
one direction (source -> target): the source graph gets control points along its edges
(plus its own nodes) by the reference's rule (``create_graph_midpoints`` as its command
line runs it, every edge whatever its curvature): none on an edge shorter than 3/4 of
``control_m``, its midpoint on an edge up to ``control_m``, and ``ceil(L / control_m) - 1``
evenly spaced points on a longer one. Each control point is projected onto the nearest
target edge within ``snap_m`` and inserted there as a node (where roads cross without
meeting, the nearest edge running the same way: :mod:`.matching`); for pairs of control points,
the shortest path length in the source, ``L_s``, is compared with the one between their
inserted nodes in the target, ``L_t``, each pair costing ``min(1, |L_s - L_t| / L_s)``, and
a full 1 when a control point has no target edge within ``snap_m`` or the target has no
path. The score is one minus the mean cost. APLS is the harmonic mean of the ground truth
-> proposal and proposal -> ground truth scores.

Every control point starts paths up to ``max_sources`` (1000, the reference's
``--max_nodes``); beyond that a seeded sample of that many control points starts paths to
every control point (the reference instead drops control points on graphs of 500 nodes
or more and compares paths among sampled nodes only). Nodes are not pre-merged; so this is
"APLS-style", not a drop-in for the SpaceNet scorer. Coordinates must be in metres (a
projected CRS), as ``control_m`` and ``snap_m`` are.
"""

import itertools
import math
from collections.abc import Hashable, Iterator

import networkx as nx
import numpy as np
import shapely
from scipy.sparse import csr_array
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString

from .matching import match_to_edges, tangents


def _edges(graph: nx.Graph) -> Iterator[tuple[Hashable, Hashable, Hashable, LineString]]:
    """Every edge as (u, v, key, geometry oriented from u to v); straight if no geometry."""
    if graph.is_multigraph():
        edges = graph.edges(keys=True, data=True)
    else:
        edges = ((u, v, None, data) for u, v, data in graph.edges(data=True))
    for u, v, key, data in edges:
        xy_u, xy_v = tuple(graph.nodes[u]["xy"]), tuple(graph.nodes[v]["xy"])
        line = data.get("geometry") or LineString([xy_u, xy_v])
        if math.dist(line.coords[0], xy_u) > math.dist(line.coords[-1], xy_u):
            line = LineString(line.coords[::-1])
        if line.length > 0:
            yield u, v, key, line


def _add_weighted(graph: nx.Graph, a: Hashable, b: Hashable, length: float) -> None:
    """Add an edge, keeping the shorter one if two pieces join the same nodes."""
    if a != b and (not graph.has_edge(a, b) or graph.edges[a, b]["length"] > length):
        graph.add_edge(a, b, length=length)


def control_points_inside(length_m: float, spacing_m: float) -> int:
    """How many control points the APLS reference puts inside an edge of ``length_m``.

    Args:
        length_m: the edge's length.
        spacing_m: the control-point spacing (the reference's ``linestring_delta``).

    Returns:
        0 below ``0.75 * spacing_m``, 1 (the midpoint) up to ``spacing_m``, else
        ``ceil(length_m / spacing_m) - 1``; the points split the edge into equal pieces.
    """
    if length_m < 0.75 * spacing_m:
        return 0
    if length_m <= spacing_m:
        return 1
    return math.ceil(length_m / spacing_m) - 1


def densify(graph: nx.Graph, spacing_m: float) -> nx.Graph:
    """Copy of a road graph with the APLS reference's control points inserted on its edges.

    Args:
        graph: a networkx Graph or MultiGraph; nodes with ``xy``; edges with
            ``geometry`` (LineString) or else taken as straight.
        spacing_m: the control-point spacing (see :func:`control_points_inside`).

    Returns:
        A simple graph with ``xy`` on every node and ``length`` on every edge; the
        original nodes keep their keys, inserted ones are ``("control", u, v, key, k)``
        and carry ``direction``, their edge's unit direction there.
    """
    out = nx.Graph()
    for node, xy in graph.nodes(data="xy"):
        out.add_node(node, xy=tuple(xy))
    edges = list(_edges(graph))
    steps = [control_points_inside(line.length, spacing_m) + 1 for *_, line in edges]
    # every control point's position and direction at once (shapely works on arrays)
    on = np.repeat(np.array([line for *_, line in edges], dtype=object), np.array(steps, int) - 1)
    along = np.concatenate(
        [np.zeros(0)]
        + [np.arange(1, n) * (line.length / n) for (*_, line), n in zip(edges, steps, strict=True)]
    )
    points = shapely.get_coordinates(shapely.line_interpolate_point(on, along)).tolist()
    directions = tangents(on, along).tolist()
    inserted = 0
    for (u, v, key, line), n in zip(edges, steps, strict=True):
        previous = u
        for k in range(1, n + 1):
            current: Hashable = v
            if k < n:
                current = ("control", u, v, key, k)
                out.add_node(
                    current, xy=tuple(points[inserted]), direction=tuple(directions[inserted])
                )
                inserted += 1
            _add_weighted(out, previous, current, line.length / n)
            previous = current
    return out


def _inject(
    target: nx.Graph, points: np.ndarray, directions: np.ndarray, snap_m: float
) -> tuple[nx.Graph, dict[int, Hashable]]:
    """Insert points into the target graph at their projections on the edge they match.

    Args:
        target: the graph to insert into.
        points: (N, 2) positions.
        directions: (N, 2) their own road's direction (zero at nodes), see
            :func:`~roadkd.metrics.matching.match_to_edges`.
        snap_m: points farther than this from every edge are not inserted.

    Returns:
        The target as a simple weighted graph (``length``) with the inserted nodes, and
        point index -> its node, for the points that were inserted.
    """
    edges = list(_edges(target))
    graph = nx.Graph()
    graph.add_nodes_from(target.nodes)
    if not edges:
        return graph, {}
    edge_of, along_of = match_to_edges(points, directions, [line for *_, line in edges], snap_m)
    along: dict[int, list[tuple[float, Hashable]]] = {}
    inserted: dict[int, Hashable] = {}
    for i in np.flatnonzero(edge_of >= 0).tolist():
        node = ("snapped", i)
        inserted[i] = node
        along.setdefault(int(edge_of[i]), []).append((float(along_of[i]), node))
    for e, (u, v, _, line) in enumerate(edges):
        stops = [(0.0, u), *sorted(along.get(e, []), key=lambda s: s[0]), (line.length, v)]
        for (t0, a), (t1, b) in itertools.pairwise(stops):
            _add_weighted(graph, a, b, t1 - t0)
    return graph, inserted


def path_length_similarity(
    source: nx.Graph,
    target: nx.Graph,
    control_m: float = 50.0,
    snap_m: float = 4.0,
    max_sources: int = 1000,
    seed: int = 0,
) -> float:
    """One direction of APLS: how well ``source``'s shortest paths are found in ``target``.

    Args:
        source: the graph whose paths are looked for (node ``xy``, edge ``geometry``).
        target: the graph they are looked for in, same CRS.
        control_m: spacing of control points along the source's edges.
        snap_m: largest distance from a control point to the target.
        max_sources: on larger graphs, this many control points (seeded sample) are
            the start of the compared paths; every control point is an end.
        seed: seed of that sample.

    Returns:
        A score in [0, 1]; 1 when the source has no path to compare.
    """
    control = densify(source, control_m)
    nodes = list(control.nodes)
    if len(nodes) < 2:
        return 1.0
    points = np.array([control.nodes[n]["xy"] for n in nodes], dtype=float)
    directions = np.array([control.nodes[n].get("direction", (0.0, 0.0)) for n in nodes])
    injected, snapped = _inject(target, points, directions, snap_m)
    sources = np.arange(len(nodes))
    if len(nodes) > max_sources:
        rng = np.random.default_rng(seed)
        sources = np.sort(rng.choice(len(nodes), max_sources, replace=False))
    # all shortest paths from the sources at once, in C (scipy), not node by node
    source_lengths = _distances(control, nodes, sources)
    target_nodes = list(injected.nodes)
    target_index = {n: i for i, n in enumerate(target_nodes)}
    # where each control point sits in the target graph (-1: not within snap_m)
    where = np.array([target_index[snapped[i]] if i in snapped else -1 for i in range(len(nodes))])
    found = np.full(source_lengths.shape, np.inf)
    starts = where[sources]
    rows = np.flatnonzero(starts >= 0)
    if len(rows):
        from_starts = _distances(injected, target_nodes, starts[rows])
        ends = where >= 0
        found[np.ix_(rows, np.flatnonzero(ends))] = from_starts[:, where[ends]]
    # pairs without a path in the source, or at the same place, say nothing
    compared = np.isfinite(source_lengths) & (source_lengths > 0)
    if not compared.any():
        return 1.0
    length, matched = source_lengths[compared], found[compared]
    with np.errstate(invalid="ignore"):
        costs = np.where(
            np.isfinite(matched), np.minimum(1.0, np.abs(length - matched) / length), 1.0
        )
    return 1.0 - float(costs.mean())


def _distances(graph: nx.Graph, nodes: list[Hashable], sources: np.ndarray) -> np.ndarray:
    """Shortest path lengths (edge ``length``) from ``sources`` (indices into ``nodes``).

    Returns:
        (len(sources), len(nodes)) array, ``inf`` where there is no path.
    """
    index = {n: i for i, n in enumerate(nodes)}
    edges = list(graph.edges(data="length"))
    rows = [index[u] for u, _, _ in edges]
    cols = [index[v] for _, v, _ in edges]
    # csgraph drops explicit zeros: a zero-length piece keeps a tiny positive weight
    weights = [max(float(w), 1e-9) for *_, w in edges]
    matrix = csr_array((weights, (rows, cols)), shape=(len(nodes), len(nodes)))
    distances: np.ndarray = dijkstra(matrix, directed=False, indices=sources)
    return distances


def apls_scores(
    truth: nx.Graph,
    proposal: nx.Graph,
    control_m: float = 50.0,
    snap_m: float = 4.0,
    max_sources: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """APLS-style score and its two directions.

    Args:
        truth: ground-truth graph (node ``xy``, edge ``geometry``), coordinates in metres.
        proposal: proposed graph, same CRS.
        control_m: spacing of control points along edges.
        snap_m: largest distance to snap a control point to the other graph.
        max_sources: control points that start paths, on larger graphs (seeded sample).
        seed: seed of that sample.

    Returns:
        ``{"apls": harmonic mean, "apls_gt_to_prop": ..., "apls_prop_to_gt": ...}``, each
        in [0, 1]: 1 for identical graphs, 0 when nothing matches.
    """
    has_truth, has_proposal = truth.number_of_edges() > 0, proposal.number_of_edges() > 0
    if not has_truth or not has_proposal:
        value = 1.0 if has_truth == has_proposal else 0.0
        return {"apls": value, "apls_gt_to_prop": value, "apls_prop_to_gt": value}
    forward = path_length_similarity(truth, proposal, control_m, snap_m, max_sources, seed)
    backward = path_length_similarity(proposal, truth, control_m, snap_m, max_sources, seed)
    total = forward + backward
    score = 2 * forward * backward / total if total > 0 else 0.0
    return {"apls": score, "apls_gt_to_prop": forward, "apls_prop_to_gt": backward}


def apls(
    truth: nx.Graph,
    proposal: nx.Graph,
    control_m: float = 50.0,
    snap_m: float = 4.0,
    max_sources: int = 1000,
    seed: int = 0,
) -> float:
    """APLS-style score of a proposed road graph against the ground truth.

    Args:
        truth: ground-truth graph (node ``xy``, edge ``geometry``), coordinates in metres.
        proposal: proposed graph, same CRS.
        control_m: spacing of control points along edges.
        snap_m: largest distance to snap a control point to the other graph.
        max_sources: control points that start paths, on larger graphs (seeded sample).
        seed: seed of that sample.

    Returns:
        A score in [0, 1]: 1 for identical graphs, 0 when nothing matches.
    """
    return apls_scores(truth, proposal, control_m, snap_m, max_sources, seed)["apls"]
