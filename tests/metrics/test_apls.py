"""APLS-style score on hand-made graphs with hand-computed answers."""

import networkx as nx
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import LineString

from roadkd.metrics.apls import (
    apls,
    apls_scores,
    control_points_inside,
    densify,
    path_length_similarity,
)
from roadkd.metrics.linegraph import lines_to_graph
from roadkd.metrics.matching import match_to_edges
from roadkd.metrics.topo import TopoSettings, topo_scores
from roadkd.vectorize import vectorize_array

APLS_KEYS = ("apls", "apls_gt_to_prop", "apls_prop_to_gt")


def grid(n: int = 3, step: float = 100.0, shift: float = 0.0) -> nx.Graph:
    graph = nx.grid_2d_graph(n, n)
    for node in graph.nodes:
        graph.nodes[node]["xy"] = (node[0] * step + shift, node[1] * step)
    return graph


def chain(points: dict[str, tuple[float, float]], edges: list[tuple[str, str]]) -> nx.Graph:
    graph = nx.Graph()
    for name, xy in points.items():
        graph.add_node(name, xy=xy)
    graph.add_edges_from(edges)
    return graph


def test_identical_graphs_score_one() -> None:
    assert apls(grid(), grid()) == pytest.approx(1.0)
    assert apls(grid(), grid(), control_m=7.0) == pytest.approx(1.0)


def test_empty_graphs() -> None:
    assert apls(grid(), nx.Graph()) == 0.0
    assert apls(nx.Graph(), grid()) == 0.0
    assert apls(nx.Graph(), nx.Graph()) == 1.0


def test_missing_edge_scores_between() -> None:
    cut = grid()
    cut.remove_edge((0, 0), (1, 0))
    scores = apls_scores(grid(), cut)
    assert 0.0 < scores["apls"] < 1.0
    # every path of the cut graph exists, as long or longer, in the full grid; paths of
    # the full grid through the cut are longer (detours) or gone: it is the worse side
    assert scores["apls_gt_to_prop"] < scores["apls_prop_to_gt"] < 1.0


def test_hand_computed_missing_half() -> None:
    # Truth: a straight 200 m road a-b-c; the proposal finds only a-b.
    truth = chain({"a": (0, 0), "b": (100, 0), "c": (200, 0)}, [("a", "b"), ("b", "c")])
    half = truth.subgraph(["a", "b"]).copy()
    # At a 150 m spacing the 100 m edges (< 112.5 m) get no control point: a, b, c. Truth
    # -> proposal: of the ordered pairs (ab, ba, ac, ca, bc, cb) only ab and ba are found
    # (exactly); c is farther than 4 m from the proposal, so 4 cost 1: score
    # 1 - 4/6 = 1/3. Proposal -> truth: ab and ba are found exactly: 1. Harmonic mean:
    # 2 * (1/3) * 1 / (1/3 + 1) = 0.5.
    scores = apls_scores(truth, half, control_m=150.0)
    assert scores["apls_gt_to_prop"] == pytest.approx(1 / 3)
    assert scores["apls_prop_to_gt"] == pytest.approx(1.0)
    assert scores["apls"] == pytest.approx(0.5)


def test_hand_computed_detour() -> None:
    # Truth: a-b straight, 100 m. Proposal: the same ends joined by a 140 m detour
    # (a -> (0, 40)... drawn as a geometry). Control points only at a and b.
    truth = chain({"a": (0, 0), "b": (100, 0)}, [("a", "b")])
    proposal = chain({"a": (0, 0), "b": (100, 0)}, [])
    proposal.add_edge("a", "b", geometry=LineString([(0, 0), (0, 20), (100, 20), (100, 0)]))
    # Truth -> proposal: L = 100, found 140: cost 0.4, score 0.6. Proposal -> truth: its
    # nodes a, b (the corners are 20 m from the truth: not snapped, but they are not
    # control points at control_m = 200): L = 140, found 100: cost 40/140.
    scores = apls_scores(truth, proposal, control_m=200.0)
    assert scores["apls_gt_to_prop"] == pytest.approx(0.6)
    assert scores["apls_prop_to_gt"] == pytest.approx(1 - 40 / 140)


def test_snapping_within_the_buffer_only() -> None:
    def road(offset: float) -> nx.Graph:
        return chain({"a": (0, offset), "b": (200, offset)}, [("a", "b")])

    # a road drawn 3 m beside the truth is the same road: path lengths are identical
    assert apls(road(0), road(3)) == pytest.approx(1.0)
    # 10 m away it is another road, unless the buffer is widened
    assert apls(road(0), road(10)) == 0.0
    assert apls(road(0), road(10), snap_m=12.0) == pytest.approx(1.0)
    # a whole grid 3 m off: paths ending at the grid's border are off by up to 6 m
    assert apls(grid(), grid(shift=3.0)) == pytest.approx(0.985, abs=0.01)


def test_control_points_are_injected_mid_edge() -> None:
    # Truth control points fall in the middle of the proposal's single edge.
    truth = chain({"a": (0, 0), "b": (100, 0)}, [("a", "b")])
    proposal = chain({"p": (-50, 1), "q": (150, 1)}, [("p", "q")])
    assert path_length_similarity(truth, proposal, control_m=25.0) == pytest.approx(1.0)


def test_multigraph_parallel_edges_are_both_used() -> None:
    # Two roads join the same junctions; the truth has only the northern one.
    points = {"a": (0.0, 0.0), "b": (100.0, 0.0)}
    north = LineString([(0, 0), (0, 50), (100, 50), (100, 0)])
    south = LineString([(0, 0), (0, -50), (100, -50), (100, 0)])
    both = nx.MultiGraph()
    for name, xy in points.items():
        both.add_node(name, xy=xy)
    both.add_edge("a", "b", geometry=north)
    both.add_edge("a", "b", geometry=south)
    only_north = chain(points, [])
    only_north.add_edge("a", "b", geometry=north)
    assert densify(both, 10.0).number_of_nodes() == 2 + 2 * 19
    assert apls(both, both) == pytest.approx(1.0)
    scores = apls_scores(both, only_north)
    assert scores["apls_prop_to_gt"] == pytest.approx(1.0)
    assert 0.0 < scores["apls_gt_to_prop"] < 1.0


def test_densify_spacing() -> None:
    line = chain({"a": (0.0, 0.0), "b": (100.0, 0.0)}, [("a", "b")])
    dense = densify(line, 30.0)
    assert dense.number_of_nodes() == 5
    assert sum(w for _, _, w in dense.edges(data="length")) == pytest.approx(100.0)


def test_control_points_follow_the_reference_rule() -> None:
    # CosmiQ's create_graph_midpoints at linestring_delta = 50: none below 37.5 m, the
    # midpoint up to 50 m, then ceil(L / 50) - 1 evenly spaced points
    counts = {30: 0, 37.4: 0, 37.5: 1, 40: 1, 45: 1, 50: 1, 60: 1, 100: 1, 101: 2, 150: 2}
    for length, expected in counts.items():
        assert control_points_inside(length, 50.0) == expected, length
    dense = densify(chain({"a": (0.0, 0.0), "b": (101.0, 0.0)}, [("a", "b")]), 50.0)
    inside = sorted(xy[0] for n, xy in dense.nodes(data="xy") if n not in ("a", "b"))
    assert inside == pytest.approx([101 / 3, 202 / 3])


def test_hand_computed_40_m_edge_gets_its_midpoint() -> None:
    # Truth: a straight 40 m road a-b; control points a, its midpoint m (20 m), b. The
    # proposal finds its first 30 m only (no control point inside: 30 < 37.5).
    truth = chain({"a": (0, 0), "b": (40, 0)}, [("a", "b")])
    proposal = chain({"a": (0, 0), "p": (30, 0)}, [("a", "p")])
    assert sorted(xy[0] for _, xy in densify(truth, 50.0).nodes(data="xy")) == [0, 20, 40]
    # Truth -> proposal: b is 10 m from the proposal (> 4 m). Of the 6 ordered pairs only
    # am and ma are found, exactly (20 m): score 1 - 4/6 = 1/3. Proposal -> truth: a-p,
    # 30 m both ways, found exactly: 1. APLS = 2 * (1/3) * 1 / (1/3 + 1) = 0.5. Without
    # the midpoint (the old rule) the truth side would score 0 and APLS 0.
    scores = apls_scores(truth, proposal)
    assert scores["apls_gt_to_prop"] == pytest.approx(1 / 3)
    assert scores["apls_prop_to_gt"] == pytest.approx(1.0)
    assert scores["apls"] == pytest.approx(0.5)


def test_hand_computed_45_m_edge_with_a_gap() -> None:
    # Truth: a straight 45 m road a-b, midpoint m at 22.5 m. The proposal breaks it: 0-18 m
    # and 24-45 m (pieces of 18 and 21 m: no control points inside).
    truth = chain({"a": (0, 0), "b": (45, 0)}, [("a", "b")])
    proposal = chain(
        {"p0": (0, 0), "p1": (18, 0), "p2": (24, 0), "p3": (45, 0)},
        [("p0", "p1"), ("p2", "p3")],
    )
    # Truth -> proposal: a snaps at 0, m (22.5) at 24 (1.5 m away), b at 45. am, ma, ab, ba
    # have no path in the proposal (cost 1 each); mb and bm: 22.5 m against 21 m, cost
    # 1.5 / 22.5 = 1/15 each. Score 1 - (4 + 2/15) / 6 = 28/90.
    # Proposal -> truth: p0-p1 (18 m) and p2-p3 (21 m) are found exactly; pairs across the
    # gap have no path in the proposal and are not compared: 1.
    # APLS = 2 * (28/90) / (28/90 + 1) = 56/118.
    scores = apls_scores(truth, proposal)
    assert scores["apls_gt_to_prop"] == pytest.approx(28 / 90)
    assert scores["apls_prop_to_gt"] == pytest.approx(1.0)
    assert scores["apls"] == pytest.approx(56 / 118)


def test_every_control_point_is_a_source_up_to_1000() -> None:
    truth, cut = grid(14), grid(14)
    for edge in list(cut.edges)[::7]:
        cut.remove_edge(*edge)
    # 196 nodes and 364 edges of 100 m with a midpoint each: 560 control points (more
    # than the old default of 500 sources), every one of them a source
    assert densify(truth, 50.0).number_of_nodes() == 560
    every = apls(truth, cut, max_sources=10_000)
    assert apls(truth, cut, seed=5) == every and apls(truth, cut, seed=7) == every
    assert apls(truth, cut, max_sources=500, seed=5) != every


def test_sampled_sources_are_close_to_all_sources() -> None:
    truth, cut = grid(8), grid(8)
    rng = np.random.default_rng(0)
    edges = list(cut.edges)
    for i in rng.choice(len(edges), 15, replace=False):
        cut.remove_edge(*edges[i])
    full = apls(truth, cut, max_sources=10_000)
    sampled = apls(truth, cut, max_sources=60, seed=1)
    assert 0.0 < full < 1.0
    assert sampled == pytest.approx(full, abs=0.05)
    assert apls(truth, cut, max_sources=60, seed=1) == sampled  # seeded


def test_vectorised_mask_against_itself_and_a_broken_copy() -> None:
    transform = Affine(0.5, 0, 445000.0, 0, -0.5, 5030000.0)
    mask = np.zeros((200, 200), np.float32)
    mask[95:105, :] = 1
    mask[:, 95:105] = 1
    truth = vectorize_array(mask, transform, "EPSG:32618").graph
    assert apls(truth, truth, control_m=10.0) == pytest.approx(1.0)
    broken = mask.copy()
    broken[:, 120:150] = 0  # the east arm is cut 10 m from the junction, 15 m long gap
    proposal = vectorize_array(broken, transform, "EPSG:32618").graph
    assert 0.2 < apls(truth, proposal, control_m=10.0) < 0.9


def test_a_control_point_at_a_crossing_stays_on_its_road() -> None:
    # two roads crossing without meeting (a bridge), each with a control point exactly
    # at the crossing (the midpoints of 400 m and 200 m roads at a 50 m spacing)
    lines = [LineString([(0, 100), (400, 100)]), LineString([(200, 0), (200, 200)])]
    graph = lines_to_graph(lines, crossings="apart")
    on_crossing = [xy for _, xy in densify(graph, 50.0).nodes(data="xy") if xy == (200, 100)]
    assert len(on_crossing) == 2
    assert apls_scores(graph, graph) == pytest.approx(dict.fromkeys(APLS_KEYS, 1.0), abs=1e-9)
    assert topo_scores(graph, graph, TopoSettings(seeds=300))["topo_f1"] == 1.0


def test_points_match_the_edge_running_their_way() -> None:
    road = LineString([(0, 0), (100, 0)])
    bridge = LineString([(50, -50), (50, 50)])
    offset_road = LineString([(0, 1.5), (100, 1.5)])
    points = np.array([[50.0, 0.0], [50.0, 0.0], [100.0, 0.0], [50.2, 0.0]])
    east, none, north = [1.0, 0.0], [0.0, 0.0], [0.0, 1.0]
    directions = np.array([east, north, none, none])
    # on both lines: the one running the point's way; nearer, but across: the aligned one
    edge, along = match_to_edges(points, directions, [bridge, road, offset_road], 4.0)
    assert edge[:2].tolist() == [1, 0] and along[:2].tolist() == [50.0, 50.0]
    # a point without a direction (a node) goes to the nearest edge, one ending there first
    assert edge[2] == 1 and along[2] == 100.0
    ends_here = LineString([(100, 0), (100, 50)])
    edge, _ = match_to_edges(points[2:3], directions[2:3], [road.reverse(), ends_here], 4.0)
    assert edge.tolist() == [0]
    # nothing aligned within reach: the nearest; nothing within reach: -1
    edge, _ = match_to_edges(np.array([[50.0, 1.0]]), np.array([east]), [bridge], 4.0)
    assert edge.tolist() == [0]
    edge, _ = match_to_edges(np.array([[50.0, 9.0]]), np.array([north]), [road], 4.0)
    assert edge.tolist() == [-1]
