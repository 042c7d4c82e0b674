"""APLS-style graph score: how well shortest paths in one road graph survive in another.

After CosmiQ's Average Path Length Similarity (SpaceNet 3/5): both graphs get control
points every ``control_m`` along their edges; control points of one graph are snapped to
the other within ``snap_m``; for node pairs, the shortest path lengths are compared, a
missing path costing the full penalty. APLS is the harmonic mean of the ground truth ->
proposal and proposal -> ground truth scores. This version snaps to nodes of a finely
densified copy of the other graph rather than inserting projected points, and samples node
pairs (seeded) on large graphs; it is "APLS-style", not a drop-in for the official code.
"""

import math

import networkx as nx
import numpy as np
from scipy.spatial import cKDTree
from shapely.geometry import LineString


def densify(graph: nx.Graph, spacing_m: float) -> nx.Graph:
    """Copy of a road graph with nodes at most ``spacing_m`` apart along every edge.

    Args:
        graph: nodes with ``xy``; edges with ``geometry`` (LineString) or straight.
        spacing_m: largest distance between consecutive nodes.

    Returns:
        A graph with integer nodes, ``xy`` positions and ``length`` edge weights.
    """
    out = nx.Graph()
    ids: dict[object, int] = {}

    def node_id(key: object, xy: tuple[float, float]) -> int:
        if key not in ids:
            ids[key] = len(ids)
            out.add_node(ids[key], xy=xy)
        return ids[key]

    for u, v, data in graph.edges(data=True):
        xy_u, xy_v = tuple(graph.nodes[u]["xy"]), tuple(graph.nodes[v]["xy"])
        line = data.get("geometry") or LineString([xy_u, xy_v])
        if line.length == 0:
            continue
        # orient the geometry from u to v
        if math.dist(line.coords[0], xy_u) > math.dist(line.coords[-1], xy_u):
            line = LineString(line.coords[::-1])
        steps = max(1, math.ceil(line.length / spacing_m))
        previous = node_id(("node", u), xy_u)
        for k in range(1, steps + 1):
            if k == steps:
                current = node_id(("node", v), xy_v)
            else:
                point = line.interpolate(k / steps, normalized=True)
                current = node_id(("edge", u, v, k), (point.x, point.y))
            out.add_edge(previous, current, length=line.length / steps)
            previous = current
    for node, data in graph.nodes(data=True):  # isolated nodes
        node_id(("node", node), tuple(data["xy"]))
    return out


def _one_way(
    source: nx.Graph, target: nx.Graph, control_m: float, snap_m: float, max_pairs: int, seed: int
) -> float:
    """Path-length similarity of ``source``'s paths as found in ``target``, in [0, 1]."""
    control = densify(source, control_m)
    fine = densify(target, max(snap_m / 2, 0.5))
    nodes = list(control.nodes)
    if len(nodes) < 2:
        return 1.0 if len(fine) == len(nodes) else 0.0
    if len(fine) == 0:
        return 0.0
    fine_nodes = list(fine.nodes)
    tree = cKDTree(np.array([fine.nodes[n]["xy"] for n in fine_nodes]))
    distance, index = tree.query(np.array([control.nodes[n]["xy"] for n in nodes]))
    snapped = {
        n: fine_nodes[i] for n, d, i in zip(nodes, distance, index, strict=True) if d <= snap_m
    }

    pairs = [(a, b) for i, a in enumerate(nodes) for b in nodes[i + 1 :]]
    if len(pairs) > max_pairs:
        rng = np.random.default_rng(seed)
        pairs = [pairs[i] for i in rng.choice(len(pairs), max_pairs, replace=False)]
    penalties = []
    source_lengths: dict[object, dict[object, float]] = {}
    target_lengths: dict[object, dict[object, float]] = {}
    for a, b in pairs:
        if a not in source_lengths:
            source_lengths[a] = nx.single_source_dijkstra_path_length(control, a, weight="length")
        length = source_lengths[a].get(b)
        if not length:  # no path in the source graph: the pair says nothing
            continue
        if a not in snapped or b not in snapped:
            penalties.append(1.0)
            continue
        ta, tb = snapped[a], snapped[b]
        if ta not in target_lengths:
            target_lengths[ta] = nx.single_source_dijkstra_path_length(fine, ta, weight="length")
        found = target_lengths[ta].get(tb)
        penalties.append(1.0 if found is None else min(1.0, abs(length - found) / length))
    return 1.0 - float(np.mean(penalties)) if penalties else 1.0


def apls(
    truth: nx.Graph,
    proposal: nx.Graph,
    control_m: float = 50.0,
    snap_m: float = 4.0,
    max_pairs: int = 2000,
    seed: int = 0,
) -> float:
    """APLS-style score of a proposed road graph against the ground truth.

    Args:
        truth: ground-truth graph (node ``xy``, edge ``geometry``).
        proposal: proposed graph, same CRS.
        control_m: spacing of control points along edges.
        snap_m: largest distance to snap a control point to the other graph.
        max_pairs: node pairs sampled per direction on large graphs.
        seed: seed of that sampling.

    Returns:
        A score in [0, 1]: 1 for identical graphs, 0 when nothing matches.
    """
    if truth.number_of_edges() == 0 and proposal.number_of_edges() == 0:
        return 1.0
    if truth.number_of_edges() == 0 or proposal.number_of_edges() == 0:
        return 0.0
    forward = _one_way(truth, proposal, control_m, snap_m, max_pairs, seed)
    backward = _one_way(proposal, truth, control_m, snap_m, max_pairs, seed)
    if forward + backward == 0:
        return 0.0
    return 2 * forward * backward / (forward + backward)
