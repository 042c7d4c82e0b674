"""Road graphs from line layers, and the TOPO metric on them (known answers)."""

import networkx as nx
import pytest
from shapely.geometry import LineString, MultiLineString

from roadkd.metrics.apls import apls
from roadkd.metrics.linegraph import lines_to_graph
from roadkd.metrics.topo import TopoSettings, topo_counts, topo_scores


def lengths(graph: nx.MultiGraph) -> list[float]:
    return sorted(round(d["length"], 1) for *_, d in graph.edges(data=True))


def nodes_xy(graph: nx.MultiGraph) -> list[tuple[float, float]]:
    return sorted((round(x, 2), round(y, 2)) for _, (x, y) in graph.nodes(data="xy"))


def assert_same_graph(a: nx.MultiGraph, b: nx.MultiGraph) -> None:
    """Same nodes and edges up to the 1 mm grid (the node keys in the same order)."""
    assert a.number_of_nodes() == b.number_of_nodes()
    assert a.number_of_edges() == b.number_of_edges()
    for node in a.nodes:
        assert a.nodes[node]["xy"] == pytest.approx(b.nodes[node]["xy"], abs=1e-3)
    for (u, v, line), (p, q, other) in zip(
        a.edges(data="geometry"), b.edges(data="geometry"), strict=True
    ):
        assert {u, v} == {p, q}
        assert line.hausdorff_distance(other) < 1e-3
        assert line.length == pytest.approx(other.length, abs=1e-3)


def test_junctions_at_shared_vertices_and_t_ends() -> None:
    main = LineString([(0, 0), (50, 0), (200, 0)])
    crossing = LineString([(50, -80), (50, 0), (50, 80)])  # shares the vertex (50, 0)
    side = LineString([(100, 0.4), (100, 150)])  # ends 0.4 m off the main road's segment
    graph = lines_to_graph([main, crossing, side])
    assert graph.number_of_nodes() == 7
    # the side road's end is moved onto the main road: a T node at (100, 0)
    assert (100.0, 0.0) in nodes_xy(graph)
    assert lengths(graph) == [50.0, 50.0, 80.0, 80.0, 100.0, 150.0]
    assert nx.is_connected(graph)
    for u, v, line in graph.edges(data="geometry"):
        assert {line.coords[0], line.coords[-1]} == {graph.nodes[u]["xy"], graph.nodes[v]["xy"]}


def test_ends_a_little_apart_meet() -> None:
    west = LineString([(0, 0), (100, 0)])
    east = LineString([(100.3, 0.2), (200, 0)])
    # one road drawn in two pieces: one edge, its join dissolved
    assert lengths(lines_to_graph([west, east], snap_m=1.0)) == [200.0]
    assert len(lines_to_graph([west, east], snap_m=0.1)) == 4


def test_a_crossing_without_a_shared_vertex_is_a_junction_unless_apart() -> None:
    east_west = LineString([(0, 0), (200, 0)])
    north_south = LineString([(80, -50), (80, 50)])  # no vertex at (80, 0)
    graph = lines_to_graph([east_west, north_south])
    assert nx.is_connected(graph) and (80.0, 0.0) in nodes_xy(graph)
    assert lengths(graph) == [50.0, 50.0, 80.0, 120.0]
    apart = lines_to_graph([east_west, north_south], crossings="apart")
    assert nx.number_connected_components(apart) == 2 and lengths(apart) == [100.0, 200.0]
    # on different levels (a bridge over the road) they stay apart too
    bridge = lines_to_graph([east_west, north_south], levels=["ground", "bridge"])
    assert nx.number_connected_components(bridge) == 2


def test_a_messy_drawing_gives_the_clean_graph() -> None:
    clean = [
        LineString([(0, 0), (150, 0), (400, 10)]),
        LineString([(150, -200), (150.5, 120), (160, 250)]),  # crosses without a vertex
        LineString([(300, 6), (310, 200), (200, 300)]),  # a T onto a segment
        LineString([(-50, 100), (0, 0)]),
        LineString([(500, 0), (600, 0), (600, 100), (500, 100), (500, 0)]),  # a ring
    ]
    first, ring = clean[0], clean[4]
    cut = first.interpolate(0.37, normalized=True)
    messy = [
        ring.reverse(),  # other order, reversed
        MultiLineString([clean[3], clean[2]]),  # two roads in one feature
        LineString([*first.coords[:1], cut]),  # the first road in two pieces, one reversed
        LineString([cut, *first.coords[1:]]).reverse(),
        clean[1],
        clean[1],  # duplicated
        LineString(list(clean[2].coords)[:2]),  # a stretch drawn twice
        LineString([(600, 0), (600, 100), (500, 100)]),  # half of the ring drawn again
    ]
    graph = lines_to_graph(clean)
    assert_same_graph(lines_to_graph(messy), graph)
    # the west road and the first one join end to end: one edge; 6 in the town, 1 ring
    assert graph.number_of_edges() == 7 and nx.number_connected_components(graph) == 2
    assert_same_graph(
        lines_to_graph(messy, crossings="apart"), lines_to_graph(clean, crossings="apart")
    )


def test_an_overshoot_past_a_junction_is_dropped() -> None:
    main = LineString([(0, 0), (200, 0)])
    side = LineString([(100, 100), (100, -0.6)])  # drawn 0.6 m past the main road
    assert lengths(lines_to_graph([main, side])) == [100.0, 100.0, 100.0]
    # longer than the snapping tolerance: a short road of its own
    longer = LineString([(100, 100), (100, -3)])
    assert lengths(lines_to_graph([main, longer])) == [3.0, 100.0, 100.0, 100.0]


def test_lines_on_different_levels_meet_only_where_one_ends_on_the_other() -> None:
    road = LineString([(0, 0), (100, 0), (200, 0)])
    # the bridge's end is the road's vertex (100, 0): the bridge joins the road there
    ramp = LineString([(100, 0), (150, 50), (150, 150)])
    # a bridge crossing the road, both with a vertex at the crossing: still apart
    overpass = LineString([(50, -50), (50, 0), (50, 50)])
    road = LineString([(0, 0), (50, 0), (100, 0), (200, 0)])
    graph = lines_to_graph([road, ramp, overpass], levels=[0, 1, 1])
    assert nx.number_connected_components(graph) == 2
    assert lengths(graph) == [100.0, 100.0, 100.0, 170.7]
    # a bridge drawn in two pieces that end above the road does not come down there
    north, south = LineString([(120, 80), (120, 0)]), LineString([(120, 0), (120, -80)])
    split = lines_to_graph([road, north, south], levels=[0, 1, 1])
    assert nx.number_connected_components(split) == 2 and lengths(split) == [160.0, 200.0]
    # a lone end off the road by 0.5 m on another level is not moved onto it
    near = LineString([(120, 0.5), (120, 60)])
    assert nx.number_connected_components(lines_to_graph([road, near], levels=[0, 1])) == 2
    assert nx.is_connected(lines_to_graph([road, near], levels=[0, 0]))


def test_apart_keeps_crossings_apart_but_joins_a_lone_t_end() -> None:
    main = LineString([(0, 0), (200, 0)])
    t_end = LineString([(100, 80), (100, 0)])  # ends on the main road's segment
    assert nx.is_connected(lines_to_graph([main, t_end], crossings="apart"))
    # a crossing road drawn in two pieces that end on the main road is no T-junction
    north, south = LineString([(100, 80), (100, 0)]), LineString([(100, 0), (100, -80)])
    graph = lines_to_graph([main, north, south], crossings="apart")
    assert nx.number_connected_components(graph) == 2 and lengths(graph) == [160.0, 200.0]
    assert nx.is_connected(lines_to_graph([main, north, south]))


def test_a_ring_road_is_a_loop_and_specks_vanish() -> None:
    ring = LineString([(0, 0), (100, 0), (100, 100), (0, 100), (0, 0)])
    graph = lines_to_graph([ring, LineString([(500, 0), (500.5, 0)])])
    assert graph.number_of_edges() == 1 and lengths(graph) == [400.0]
    assert apls(graph, graph) == pytest.approx(1.0)
    assert topo_scores(graph, graph)["topo_f1"] == 1.0


def test_topo_known_counts_on_a_straight_road() -> None:
    truth = lines_to_graph([LineString([(0, 0), (1000, 0)])])
    settings = TopoSettings(radius_m=100, interval_m=10, hole_m=3, seeds=5)
    holes, marbles, matched = topo_counts(truth, truth, settings)
    assert holes == marbles == matched and 5 * 11 <= holes <= 5 * 21  # 10 each way + seed
    # a proposal 2 m off is found (within 3 m), 4 m off is not
    near = lines_to_graph([LineString([(0, 2), (1000, 2)])])
    far = lines_to_graph([LineString([(0, 4), (1000, 4)])])
    assert topo_scores(truth, near, settings)["topo_f1"] == 1.0
    assert topo_scores(truth, far, settings) == {
        "topo_precision": 0.0,
        "topo_recall": 0.0,
        "topo_f1": 0.0,
    }


def test_topo_half_a_road_has_full_precision() -> None:
    truth = lines_to_graph([LineString([(0, 0), (1000, 0)])])
    half = lines_to_graph([LineString([(0, 0), (500, 0)])])
    scores = topo_scores(truth, half, TopoSettings(seeds=200))
    assert scores["topo_precision"] == 1.0
    assert 0.3 < scores["topo_recall"] < 0.7
