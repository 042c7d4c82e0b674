"""APLS-style score on hand-made graphs."""

import networkx as nx
import pytest

from roadkd.metrics.apls import apls, densify


def grid(n: int = 3, step: float = 100.0) -> nx.Graph:
    graph = nx.grid_2d_graph(n, n)
    for node in graph.nodes:
        graph.nodes[node]["xy"] = (node[0] * step, node[1] * step)
    return graph


def test_identical_graphs_score_one() -> None:
    assert apls(grid(), grid()) == pytest.approx(1.0)


def test_empty_proposal_scores_zero() -> None:
    assert apls(grid(), nx.Graph()) == 0.0
    assert apls(nx.Graph(), nx.Graph()) == 1.0


def test_missing_edge_scores_between() -> None:
    cut = grid()
    cut.remove_edge((0, 0), (1, 0))
    score = apls(grid(), cut)
    assert 0.0 < score < 1.0


def test_hand_computed_detour() -> None:
    # Truth: a straight 200 m road A-B-C; the proposal finds only A-B.
    truth = nx.Graph()
    for name, xy in {"a": (0, 0), "b": (100, 0), "c": (200, 0)}.items():
        truth.add_node(name, xy=xy)
    truth.add_edges_from([("a", "b"), ("b", "c")])
    half = truth.subgraph(["a", "b"]).copy()
    # Control points every 100 m: truth nodes a, b, c -> pairs ab (found), ac and bc
    # (c is not within 4 m of the proposal: missed) -> truth->proposal = 1 - 2/3;
    # proposal nodes a, b -> pair ab found exactly -> proposal->truth = 1.
    expected = 2 * (1 / 3) * 1 / (1 / 3 + 1)
    assert apls(truth, half, control_m=100.0) == pytest.approx(expected)


def test_densify_spacing() -> None:
    line = nx.Graph()
    line.add_node(0, xy=(0.0, 0.0))
    line.add_node(1, xy=(100.0, 0.0))
    line.add_edge(0, 1)
    dense = densify(line, 30.0)
    assert dense.number_of_nodes() == 5
    assert sum(w for _, _, w in dense.edges(data="length")) == pytest.approx(100.0)
