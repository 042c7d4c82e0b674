"""TOPO: how well a proposed road graph reproduces the ground truth around sample points.

After Biagioni and Eriksson ("Inferring road maps from GPS traces: survey and comparative
evaluation", TRB 2012). From a seed point on the ground truth, the truth is explored along
its roads up to ``radius_m`` and gets a "hole" every ``interval_m`` of graph distance from
the seed; the proposal is explored the same way from the point nearest the seed (within
``hole_m``; where roads cross without meeting, on the road running the seed's way:
:mod:`.matching`) and gets "marbles". A marble falls in a hole within ``hole_m`` of it, one
marble per hole (a maximum bipartite matching). Summed over seeds, precision is the share
of marbles in holes, recall the share of holes filled.

Defaults follow CosmiQ's TOPO implementation beside APLS (SpaceNet): radius 150 m, holes
every 30 m, hole size 5 m; seeds are drawn uniformly along the truth's length (seeded).
Because holes and marbles are laid out from the seed by graph distance, not per edge, a
proposal equal to the truth scores 1 however its lines are split. Coordinates must be in
metres.
"""

import math
from collections.abc import Hashable

import networkx as nx
import numpy as np
import shapely
from scipy.sparse import csr_array
from scipy.sparse.csgraph import dijkstra, maximum_bipartite_matching
from scipy.spatial import cKDTree
from shapely.geometry import LineString, Point

from .apls import _edges as oriented_edges
from .matching import match_to_edges, tangents
from .options import TopoSettings

#: Graph distances (metres) this close to a multiple of the interval are on it.
GRID_TOLERANCE = 1e-6


class _Network:
    """A graph's edges as arrays, for shortest paths from a point on an edge."""

    def __init__(self, graph: nx.Graph) -> None:
        edges = list(oriented_edges(graph))
        nodes: dict[Hashable, int] = {}
        for u, v, _, _ in edges:
            nodes.setdefault(u, len(nodes))
            nodes.setdefault(v, len(nodes))
        self.lines: list[LineString] = [line for *_, line in edges]
        self.ends = np.array(
            [(nodes[u], nodes[v]) for u, v, _, _ in edges], dtype=np.int64
        ).reshape(-1, 2)
        self.lengths = np.array([line.length for line in self.lines])
        self.node_xy = np.zeros((len(nodes), 2))
        for node, i in nodes.items():
            self.node_xy[i] = graph.nodes[node]["xy"]
        # one weight per node pair, the shortest of parallel edges (csr_array would sum
        # them); a tiny positive weight for zero lengths, which csgraph would drop
        shortest: dict[tuple[int, int], float] = {}
        for (a, b), length in zip(self.ends.tolist(), self.lengths.tolist(), strict=True):
            if a != b:
                pair = (min(a, b), max(a, b))
                shortest[pair] = min(shortest.get(pair, math.inf), max(length, 1e-9))
        pairs = np.array(list(shortest), dtype=np.int64).reshape(-1, 2)
        self.matrix = csr_array(
            (list(shortest.values()), (pairs[:, 0], pairs[:, 1])), shape=(len(nodes), len(nodes))
        )

    def samples(self, edge: int, along: float, settings: TopoSettings) -> np.ndarray:
        """Points every ``interval_m`` of graph distance from a point on an edge.

        Args:
            edge: index of the edge the start point is on.
            along: distance of the start point along that edge.
            settings: radius and interval.

        Returns:
            (N, 2) positions, the start point first.
        """
        radius, step = settings.radius_m, settings.interval_m
        a, b = self.ends[edge]
        length = self.lengths[edge]
        limit = radius + length
        from_a, from_b = dijkstra(self.matrix, directed=False, indices=[a, b], limit=limit)
        # graph distance from the start to every node, leaving through either end
        to_node = np.minimum(along + from_a, length - along + from_b)
        line = self.lines[edge]
        points = [line.interpolate(along)]
        # the start edge: outward from the start in both directions
        for k in range(1, int(radius // step) + 1):
            for position in (along - k * step, along + k * step):
                if 0 < position < length:
                    points.append(line.interpolate(position))
        reached = to_node <= radius
        finite = np.where(reached, to_node, 0.0)
        on_grid = reached & (np.abs(finite - step * np.round(finite / step)) < GRID_TOLERANCE)
        # the start is already the first point
        if along == 0:
            on_grid[a] = False
        if along == length:
            on_grid[b] = False
        points.extend(Point(xy) for xy in self.node_xy[on_grid])
        others = np.flatnonzero(reached[self.ends[:, 0]] | reached[self.ends[:, 1]])
        for e in others[others != edge]:
            points.extend(self._along_edge(int(e), to_node, settings))
        return np.array([(p.x, p.y) for p in points])

    def _along_edge(self, edge: int, to_node: np.ndarray, settings: TopoSettings) -> list[Point]:
        """Interior points of an edge at multiples of the interval from the start."""
        radius, step = settings.radius_m, settings.interval_m
        u, v = self.ends[edge]
        length, line = self.lengths[edge], self.lines[edge]
        d_u, d_v = to_node[u], to_node[v]
        # where the shortest path switches from coming in at u to coming in at v
        if not math.isfinite(d_v):
            split = length
        elif not math.isfinite(d_u):
            split = 0.0
        else:
            split = float(np.clip((d_v + length - d_u) / 2, 0.0, length))
        points = []
        sides = ((d_u, 0.0, 1.0, split), (d_v, length, -1.0, length - split))
        for start, origin, direction, end in sides:
            if not math.isfinite(start):
                continue
            # strictly past the node (the node itself is placed once, not once per edge)
            first = math.floor((start + GRID_TOLERANCE) / step) + 1
            for k in range(first, int(radius // step) + 1):
                offset = k * step - start
                inside = offset <= end if direction > 0 else offset < end
                if not inside or offset >= length:
                    break
                points.append(line.interpolate(origin + direction * offset))
        return points


def _matched(holes: np.ndarray, marbles: np.ndarray, hole_m: float) -> int:
    """Largest number of marble-hole pairs within ``hole_m``, one marble per hole."""
    if len(holes) == 0 or len(marbles) == 0:
        return 0
    pairs = cKDTree(holes).sparse_distance_matrix(cKDTree(marbles), hole_m, output_type="ndarray")
    if len(pairs) == 0:
        return 0
    adjacency = csr_array(
        (np.ones(len(pairs)), (pairs["i"], pairs["j"])), shape=(len(holes), len(marbles))
    )
    return int((maximum_bipartite_matching(adjacency, perm_type="column") >= 0).sum())


def topo_counts(
    truth: nx.Graph, proposal: nx.Graph, settings: TopoSettings | None = None
) -> tuple[int, int, int]:
    """Holes, marbles and matched pairs summed over the seeds.

    Args:
        truth: ground-truth graph (node ``xy``, edge ``geometry``), coordinates in metres.
        proposal: proposed graph, same CRS.
        settings: TOPO parameters.

    Returns:
        ``(holes, marbles, matched)``.
    """
    config = settings or TopoSettings()
    reference, candidate = _Network(truth), _Network(proposal)
    total = reference.lengths.sum()
    if total == 0:
        return 0, 0, 0
    rng = np.random.default_rng(config.seed)
    at = np.sort(rng.random(config.seeds)) * total
    cumulative = np.cumsum(reference.lengths)
    edge_of = np.minimum(np.searchsorted(cumulative, at, side="right"), len(cumulative) - 1)
    along = np.clip(at - cumulative[edge_of] + reference.lengths[edge_of], 0.0, None)
    along = np.minimum(along, reference.lengths[edge_of])
    # where each seed is on the proposal: the edge running its way, if any (see .matching)
    seed_lines = np.array(reference.lines, dtype=object)[edge_of]
    seed_xy = shapely.get_coordinates(shapely.line_interpolate_point(seed_lines, along))
    found_edge, found_along = match_to_edges(
        seed_xy, tangents(seed_lines, along), candidate.lines, config.hole_m
    )
    holes_total = marbles_total = matched_total = 0
    for k, (edge, position) in enumerate(zip(edge_of.tolist(), along.tolist(), strict=True)):
        holes = reference.samples(edge, position, config)
        marbles = np.zeros((0, 2))
        if found_edge[k] >= 0:
            marbles = candidate.samples(int(found_edge[k]), float(found_along[k]), config)
        holes_total += len(holes)
        marbles_total += len(marbles)
        matched_total += _matched(holes, marbles, config.hole_m)
    return holes_total, marbles_total, matched_total


def topo_scores(
    truth: nx.Graph, proposal: nx.Graph, settings: TopoSettings | None = None
) -> dict[str, float]:
    """TOPO precision, recall and F1 of a proposed road graph against the ground truth.

    Args:
        truth: ground-truth graph (node ``xy``, edge ``geometry``), coordinates in metres.
        proposal: proposed graph, same CRS.
        settings: TOPO parameters.

    Returns:
        ``{"topo_precision", "topo_recall", "topo_f1"}`` in [0, 1]: 1 for identical graphs;
        precision is 0 when the proposal is never found near a seed.
    """
    holes, marbles, matched = topo_counts(truth, proposal, settings)
    precision = matched / marbles if marbles else 0.0
    recall = matched / holes if holes else 0.0
    total = precision + recall
    f1 = 2 * precision * recall / total if total > 0 else 0.0
    return {"topo_precision": precision, "topo_recall": recall, "topo_f1": f1}
