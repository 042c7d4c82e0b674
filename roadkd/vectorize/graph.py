"""Road centreline graph: skeleton -> graph, spur pruning, gap bridging, junction merging.

The steps run in that order in ``roadkd.vectorize.core.centreline_graph``.

Edges carry their pixel path (``coords``, (N, 2) row/col floats); nodes their pixel
position (``rc``). Graph operations are plain networkx so that each step is testable.
"""

import math

import networkx as nx
import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skan import Skeleton


def skeleton_graph(skeleton: np.ndarray) -> nx.MultiGraph:
    """Build a graph from a one-pixel-wide skeleton with skan.

    Args:
        skeleton: (H, W) boolean skeleton.

    Returns:
        A multigraph whose nodes are junctions and ends, edges the paths between them.
    """
    graph = nx.MultiGraph()
    # A pixel with no neighbour is no path; skan leaves such pixels out, but fails on a
    # skeleton made of nothing else (e.g. a block whose only road is a one-pixel speck).
    pixels = skeleton.astype(bool)
    neighbours = ndimage.convolve(
        pixels.astype(np.uint8), np.ones((3, 3), np.uint8), mode="constant"
    )
    pixels &= neighbours > 1
    if not pixels.any():
        return graph
    skel = Skeleton(pixels)
    for i in range(skel.n_paths):
        pixels = skel.path(i)
        coords = skel.path_coordinates(i).astype(float)
        a, b = int(pixels[0]), int(pixels[-1])
        graph.add_node(a, rc=coords[0])
        graph.add_node(b, rc=coords[-1])
        graph.add_edge(a, b, coords=coords)
    return graph


def path_length(coords: np.ndarray) -> float:
    """Length of a pixel path in pixels."""
    return float(np.hypot(*np.diff(coords, axis=0).T).sum()) if len(coords) > 1 else 0.0


def _edge_coords_from(graph: nx.MultiGraph, u: int, v: int, key: int) -> np.ndarray:
    """An edge's pixel path oriented to start at node ``u``."""
    coords: np.ndarray = graph.edges[u, v, key]["coords"]
    if np.allclose(coords[0], graph.nodes[u]["rc"]):
        return coords
    return coords[::-1]


def merge_degree_two(graph: nx.MultiGraph) -> nx.MultiGraph:
    """Join the two edges at every degree-2 node, so edges run junction to junction/end.

    An edge's ``samples`` (per-pixel measurements in no particular order, such as the
    road half-widths under a line) are pooled into the joined edge when both carry them.
    """
    changed = True
    while changed:
        changed = False
        for node in list(graph.nodes):
            if graph.degree(node) != 2 or graph.number_of_edges(node, node):
                continue
            (_, a, ka), (_, b, kb) = list(graph.edges(node, keys=True))
            first = _edge_coords_from(graph, a, node, ka)
            second = _edge_coords_from(graph, node, b, kb)
            pooled = [
                graph.edges[a, node, ka].get("samples"),
                graph.edges[node, b, kb].get("samples"),
            ]
            graph.remove_node(node)
            extra = (
                {}
                if pooled[0] is None or pooled[1] is None
                else {"samples": np.concatenate(pooled)}
            )
            graph.add_edge(a, b, coords=np.vstack([first, second[1:]]), **extra)
            changed = True
    return graph


def prune_spurs(graph: nx.MultiGraph, min_spur_px: float) -> nx.MultiGraph:
    """Remove dead-end edges shorter than ``min_spur_px`` that hang off a junction."""
    changed = True
    while changed:
        changed = False
        for u, v, key, coords in list(graph.edges(keys=True, data="coords")):
            if not graph.has_edge(u, v, key):
                continue
            du, dv = graph.degree(u), graph.degree(v)
            end = u if du == 1 and dv >= 3 else v if dv == 1 and du >= 3 else None
            if end is not None and path_length(coords) < min_spur_px:
                graph.remove_node(end)
                changed = True
        if changed:
            merge_degree_two(graph)
    return graph


def drop_small_networks(graph: nx.MultiGraph, min_length_px: float) -> nx.MultiGraph:
    """Remove connected networks whose total length is below ``min_length_px``.

    An edge's length is its ``length_px`` if it has one (an edge whose path was measured
    and dropped already), else its ``coords`` path's length.
    """
    for component in list(nx.connected_components(graph)):
        sub = graph.subgraph(component)
        lengths = (
            data["length_px"] if "length_px" in data else path_length(data["coords"])
            for _, _, data in sub.edges(data=True)
        )
        if sum(lengths) < min_length_px:
            graph.remove_nodes_from(component)
    return graph


def _dead_end_direction(graph: nx.MultiGraph, node: int, reach: int = 10) -> np.ndarray:
    """Unit vector pointing out of a dead end, from the last ``reach`` pixels of its edge."""
    (_, other, key) = next(iter(graph.edges(node, keys=True)))
    coords = _edge_coords_from(graph, node, other, key)
    tail = coords[min(reach, len(coords) - 1)]
    vector = coords[0] - tail
    norm = float(np.hypot(*vector))
    direction: np.ndarray = vector / norm if norm else vector
    return direction


def bridge_gaps(graph: nx.MultiGraph, max_gap_px: float, max_angle_deg: float) -> nx.MultiGraph:
    """Join pairs of dead ends that face each other across a small gap.

    Two dead ends are joined when they are closer than ``max_gap_px`` and the gap leaves
    each of them within ``max_angle_deg`` of its own direction (a road interrupted by a
    tree or a shadow, not two parallel streets).
    """
    ends = [n for n in graph.nodes if graph.degree(n) == 1]
    if len(ends) < 2:
        return graph
    cos_limit = math.cos(math.radians(max_angle_deg))
    directions = {n: _dead_end_direction(graph, n) for n in ends}
    used: set[int] = set()
    candidates = []
    # only pairs within reach: a k-d tree, not every pair of a noisy map's many ends
    tree = cKDTree(np.array([graph.nodes[n]["rc"] for n in ends]))
    for i, j in tree.query_pairs(max_gap_px):
        a, b = ends[i], ends[j]
        if graph.has_edge(a, b):  # the two ends of one line are not a gap
            continue
        gap = graph.nodes[b]["rc"] - graph.nodes[a]["rc"]
        distance = float(np.hypot(*gap))
        if distance == 0:
            continue
        unit = gap / distance
        if directions[a] @ unit >= cos_limit and directions[b] @ -unit >= cos_limit:
            candidates.append((distance, a, b))
    for _, a, b in sorted(candidates):
        if a in used or b in used:
            continue
        coords = np.vstack([graph.nodes[a]["rc"], graph.nodes[b]["rc"]])
        graph.add_edge(a, b, coords=coords)
        used.update((a, b))
    return merge_degree_two(graph)


def _pixel(rc: np.ndarray) -> tuple[int, int]:
    """The (row, col) of the pixel that holds a point."""
    r, c = np.rint(rc).astype(int)
    return int(r), int(c)


def _outward(graph: nx.MultiGraph, node: int) -> list[tuple[int, np.ndarray]]:
    """Every edge at ``node`` as (other end, pixel path starting at ``node``)."""
    out = []
    for _, other, key in graph.edges(node, keys=True):
        out.append((other, _edge_coords_from(graph, node, other, key)))
    return out


def merge_close_junctions(
    graph: nx.MultiGraph, max_px: float, distance: np.ndarray | None = None
) -> nx.MultiGraph:
    """Merge junctions joined by a short edge into one node.

    Skeletons of a crossroads often split it into two three-way nodes apart by up to
    about a road width; a road user sees one four-way junction. Two junctions merge when
    the edge between them is shorter than ``max_px`` or, given the road mask's
    ``distance`` transform, than the larger road half-width at the two nodes. The merged
    node sits midway and the other edges are extended to it.
    """

    def half_width(node: int) -> float:
        if distance is None:
            return 0.0
        r, c = _pixel(graph.nodes[node]["rc"])
        inside = 0 <= r < distance.shape[0] and 0 <= c < distance.shape[1]
        return float(distance[r, c]) if inside else 0.0

    changed = True
    while changed:
        changed = False
        for u, v, key, coords in list(graph.edges(keys=True, data="coords")):
            if u == v or not graph.has_edge(u, v, key):
                continue
            if graph.degree(u) < 3 or graph.degree(v) < 3:
                continue
            if path_length(coords) >= max(max_px, half_width(u), half_width(v)):
                continue
            centre = (graph.nodes[u]["rc"] + graph.nodes[v]["rc"]) / 2
            graph.remove_edge(u, v, key)
            rerouted = _outward(graph, u) + [
                (other, path) for other, path in _outward(graph, v) if other != u
            ]
            # an edge between u and v is seen from both ends: keep it once (from u)
            graph.remove_nodes_from([u, v])
            graph.add_node(u, rc=centre)
            for other, path in rerouted:
                if other in (u, v):
                    graph.add_edge(u, u, coords=np.vstack([centre, path, centre]))
                else:
                    graph.add_edge(u, other, coords=np.vstack([centre, path]))
            changed = True
            break
    return graph


def extend_dead_ends(
    graph: nx.MultiGraph, mask: np.ndarray, distance: np.ndarray | None = None
) -> nx.MultiGraph:
    """Extend each dead end along its road to the edge of the road surface.

    A skeleton stops about half a road width short of a flat road end; this walks on in
    the dead end's direction, while the pixels are road, up to 1.5 road half-widths (so a
    slightly skewed direction cannot run along the road's side). ``distance`` is the
    mask's distance transform in pixels, computed if not given.
    """
    rows, cols = mask.shape
    if distance is None:
        distance = ndimage.distance_transform_edt(mask)
    for node in [n for n in graph.nodes if graph.degree(n) == 1]:
        (_, other, key) = next(iter(graph.edges(node, keys=True)))
        direction = _dead_end_direction(graph, node)
        start = graph.nodes[node]["rc"]
        r0, c0 = _pixel(start)
        if not direction.any() or not (0 <= r0 < rows and 0 <= c0 < cols):
            continue
        limit = 1.5 * float(distance[r0, c0]) + 1.0
        last = None
        for t in np.arange(0.25, limit, 0.25):
            point = start + t * direction
            r, c = _pixel(point)
            if not (0 <= r < rows and 0 <= c < cols and mask[r, c]):
                break
            last = point
        if last is None:
            continue
        # the last road sample lies within a quarter pixel of the surface's edge
        end = last + 0.125 * direction
        path = _edge_coords_from(graph, node, other, key)
        graph.nodes[node]["rc"] = end
        graph.edges[node, other, key]["coords"] = np.vstack([end, path])
    return graph
