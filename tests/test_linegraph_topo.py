"""Road graphs from line layers, and the TOPO metric on them (known answers)."""

import networkx as nx
import pytest
from shapely.geometry import LineString

from roadkd.metrics.apls import apls
from roadkd.metrics.linegraph import lines_to_graph
from roadkd.metrics.topo import TopoSettings, topo_counts, topo_scores


def lengths(graph: nx.MultiGraph) -> list[float]:
    return sorted(round(d["length"], 1) for *_, d in graph.edges(data=True))


def test_junctions_at_shared_vertices_and_t_ends() -> None:
    main = LineString([(0, 0), (50, 0), (200, 0)])
    crossing = LineString([(50, -80), (50, 0), (50, 80)])  # shares the vertex (50, 0)
    side = LineString([(100, 0.4), (100, 150)])  # ends 0.4 m off the main road's segment
    graph = lines_to_graph([main, crossing, side])
    assert graph.number_of_nodes() == 7
    # the T node is the mean of the three piece ends there: (100, 0.4 / 3)
    assert lengths(graph) == [50.0, 50.0, 80.0, 80.0, 100.0, 149.9]
    assert nx.is_connected(graph)
    for u, v, line in graph.edges(data="geometry"):
        assert {line.coords[0], line.coords[-1]} == {graph.nodes[u]["xy"], graph.nodes[v]["xy"]}


def test_ends_a_little_apart_meet_and_a_bridge_does_not() -> None:
    west = LineString([(0, 0), (100, 0)])
    east = LineString([(100.3, 0.2), (200, 0)])
    bridge = LineString([(150, -50), (150, 50)])  # crosses east without a shared vertex
    graph = lines_to_graph([west, east, bridge], snap_m=1.0)
    assert nx.number_connected_components(graph) == 2
    assert graph.number_of_nodes() == 5
    assert len(lines_to_graph([west, east], snap_m=0.1)) == 4


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
