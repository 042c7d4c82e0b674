"""Vectoriser on drawn masks with known answers (lengths, topology, widths, areas)."""

import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy import ndimage
from shapely.geometry import LineString
from skimage.draw import line

from roadkd.errors import RoadkdError
from roadkd.ground import pixel_size_m
from roadkd.vectorize import VectorizeOptions, read_road_raster, vectorize_array, vectorize_raster
from roadkd.vectorize.core import ground_length
from roadkd.vectorize.graph import merge_close_junctions, skeleton_graph

RES = 0.5
TRANSFORM = Affine(RES, 0, 445000.0, 0, -RES, 5030000.0)
CRS = "EPSG:32618"
# UTM's scale factor near x=445000 makes a ground metre 1.0004 grid metres: below 0.05 %.


def blank(size: int = 200) -> np.ndarray:
    return np.zeros((size, size), np.float32)


def drawn_road(size: int, start: tuple[int, int], end: tuple[int, int], width: float) -> np.ndarray:
    """A road drawn as a centreline with a brush of ``width`` pixels (round ends)."""
    centre = np.zeros((size, size), bool)
    centre[line(*start, *end)] = True
    return (ndimage.distance_transform_edt(~centre) <= width / 2).astype(np.float32)


def test_straight_road_across_the_scene_is_one_line_of_the_right_length() -> None:
    mask = blank()
    mask[95:105, :] = 1  # a 5 m wide road crossing the whole 100 m scene
    vectors = vectorize_array(mask, TRANSFORM, CRS)
    assert len(vectors.centerlines) == 1
    row = vectors.centerlines.iloc[0]
    # the skeleton is padded past the scene edge, so the line reaches both borders
    assert row["length_m"] == pytest.approx(100.0, rel=0.02)
    assert row["width_m"] == pytest.approx(5.0, rel=0.1)
    assert row.geometry.length == pytest.approx(row["length_m"], rel=0.002)
    x0, x1 = sorted(x for x, _ in (row.geometry.coords[0], row.geometry.coords[-1]))
    assert x0 == pytest.approx(445000.25, abs=0.3) and x1 == pytest.approx(445099.75, abs=0.3)


def test_road_with_round_ends_has_its_drawn_length() -> None:
    # A road drawn from column 40 to 160 (60 m) with a 5 m brush: its paved surface runs
    # 2.5 m further at each end; the skeleton stops at the drawn ends.
    mask = drawn_road(200, (100, 40), (100, 160), 10)
    vectors = vectorize_array(mask, TRANSFORM, CRS)
    assert len(vectors.centerlines) == 1
    assert vectors.centerlines.iloc[0]["length_m"] == pytest.approx(60.0, rel=0.02)


def test_flat_road_ends_are_reached_with_extend_ends() -> None:
    mask = blank()
    mask[95:105, 40:160] = 1  # a 60 m road with square ends
    short = vectorize_array(mask, TRANSFORM, CRS).centerlines.iloc[0]["length_m"]
    full = vectorize_array(mask, TRANSFORM, CRS, VectorizeOptions(extend_ends=True))
    assert len(full.centerlines) == 1
    assert full.centerlines.iloc[0]["length_m"] == pytest.approx(60.0, rel=0.02)
    # without the option the line stops about half a width (2.5 m) inside each end
    assert 60.0 - 6.0 < short < 60.0 - 3.0


def test_diagonal_road_length_is_not_a_pixel_staircase() -> None:
    size, rise = 400, 165  # about 22.5 degrees, where 8-connected paths are 8 % too long
    mask = drawn_road(size, (100, 0), (100 + rise, size - 1), 10)
    vectors = vectorize_array(mask, TRANSFORM, CRS)
    assert len(vectors.centerlines) == 1
    true_length = np.hypot(size - 1, rise) * RES
    assert vectors.centerlines.iloc[0]["length_m"] == pytest.approx(true_length, rel=0.01)


def test_t_junction_gives_three_edges_at_one_node() -> None:
    mask = blank()
    mask[95:105, :] = 1
    mask[:100, 95:105] = 1
    vectors = vectorize_array(mask, TRANSFORM, CRS)
    assert len(vectors.centerlines) == 3
    degrees = sorted(d for _, d in vectors.graph.degree())
    assert degrees == [1, 1, 1, 3]
    junction = next(n for n, d in vectors.graph.degree() if d == 3)
    x, y = vectors.graph.nodes[junction]["xy"]
    assert (x, y) == pytest.approx((445050.0, 5029950.0), abs=1.5)
    # the three arms: 50 m west, 50 m east, 50 m north (from the junction to the edges)
    assert sorted(vectors.centerlines["length_m"]) == pytest.approx([50, 50, 50], abs=1.5)


def test_crossroads_of_wide_roads_is_one_four_way_node() -> None:
    mask = blank(400)
    mask[180:220, :] = 1  # two 20 m wide roads crossing: the skeleton splits the junction
    mask[:, 170:230] = 1
    vectors = vectorize_array(mask, TRANSFORM, CRS)
    assert sorted(d for _, d in vectors.graph.degree()) == [1, 1, 1, 1, 4]
    assert len(vectors.centerlines) == 4


def test_merge_close_junctions_joins_the_edges_to_the_middle() -> None:
    graph = nx.MultiGraph()
    positions = {0: (0, 0), 1: (0, 3), 2: (-20, 0), 3: (20, 0), 4: (-20, 3), 5: (20, 3)}
    for node, rc in positions.items():
        graph.add_node(node, rc=np.array(rc, float))
    for a, b in [(0, 1), (0, 2), (0, 3), (1, 4), (1, 5)]:
        graph.add_edge(a, b, coords=np.array([positions[a], positions[b]], float))
    merge_close_junctions(graph, max_px=5.0)
    assert sorted(d for _, d in graph.degree()) == [1, 1, 1, 1, 4]
    hub = next(n for n, d in graph.degree() if d == 4)
    assert graph.nodes[hub]["rc"] == pytest.approx([0.0, 1.5])
    for _, _, coords in graph.edges(hub, data="coords"):
        assert coords[0] == pytest.approx([0.0, 1.5]) or coords[-1] == pytest.approx([0.0, 1.5])


def test_small_gap_is_bridged() -> None:
    mask = blank()
    mask[95:105, :90] = 1
    mask[95:105, 98:] = 1  # a 4 m gap (9 m between skeleton ends), e.g. under a tree
    vectors = vectorize_array(mask, TRANSFORM, CRS, VectorizeOptions(bridge_m=12.0))
    assert len(vectors.centerlines) == 1
    assert vectors.centerlines.iloc[0]["length_m"] == pytest.approx(100, rel=0.02)
    unbridged = vectorize_array(mask, TRANSFORM, CRS, VectorizeOptions(bridge_m=1.0))
    assert len(unbridged.centerlines) == 2


def test_parallel_dead_ends_are_not_bridged() -> None:
    mask = blank()
    mask[60:70, :90] = 1  # two streets ending side by side, 10 m apart: not one road
    mask[80:90, :90] = 1
    vectors = vectorize_array(mask, TRANSFORM, CRS, VectorizeOptions(bridge_m=12.0))
    assert len(vectors.centerlines) == 2
    assert nx.number_connected_components(vectors.graph) == 2


def test_spur_is_pruned() -> None:
    mask = blank()
    mask[95:105, :] = 1
    mask[85:95, 140:146] = 1  # a 5 m bump: a whisker, not a road
    vectors = vectorize_array(mask, TRANSFORM, CRS, VectorizeOptions(min_spur_m=10.0))
    assert len(vectors.centerlines) == 1
    assert vectors.centerlines.iloc[0]["length_m"] == pytest.approx(100, rel=0.02)
    kept = vectorize_array(mask, TRANSFORM, CRS, VectorizeOptions(min_spur_m=1.0))
    assert len(kept.centerlines) == 3


def test_side_road_longer_than_the_spur_limit_is_kept() -> None:
    mask = blank()
    mask[95:105, :] = 1
    mask[60:100, 140:146] = 1  # a 20 m side road
    vectors = vectorize_array(mask, TRANSFORM, CRS, VectorizeOptions(min_spur_m=10.0))
    assert len(vectors.centerlines) == 3


def test_small_networks_are_dropped() -> None:
    mask = blank()
    mask[95:105, :] = 1
    mask[20:26, 20:40] = 1  # a 10 m long blob: a car park aisle, not a road network
    vectors = vectorize_array(mask, TRANSFORM, CRS, VectorizeOptions(min_network_m=15.0))
    assert len(vectors.centerlines) == 1


def test_ring_road_is_one_closed_line() -> None:
    rows, cols = np.mgrid[:240, :240]
    radius = np.hypot(rows - 120, cols - 120)
    mask = ((radius > 70) & (radius < 80)).astype(np.float32)
    vectors = vectorize_array(mask, TRANSFORM, CRS)
    assert len(vectors.centerlines) == 1
    ring = vectors.centerlines.geometry.iloc[0]
    assert ring.is_ring
    assert vectors.centerlines.iloc[0]["length_m"] == pytest.approx(2 * np.pi * 75 * RES, rel=0.02)


def test_two_roads_between_the_same_junctions_are_both_kept() -> None:
    mask = blank()
    mask[95:105, :] = 1  # a main road with a loop road leaving and rejoining it
    mask[40:50, 60:140] = 1
    mask[40:100, 60:70] = 1
    mask[40:100, 130:140] = 1
    vectors = vectorize_array(mask, TRANSFORM, CRS)
    assert isinstance(vectors.graph, nx.MultiGraph)
    assert vectors.graph.number_of_edges() == len(vectors.centerlines) == 4
    assert sorted(d for _, d in vectors.graph.degree()) == [1, 1, 3, 3]


def test_probability_threshold_and_nodata() -> None:
    prob = np.full((200, 200), 0.1, np.float32)
    prob[95:105, :] = 0.6
    prob[:, :50] = np.nan  # nodata is never road
    vectors = vectorize_array(prob, TRANSFORM, CRS)
    assert vectors.centerlines.iloc[0]["length_m"] == pytest.approx(75, rel=0.03)
    assert (
        vectorize_array(
            prob, TRANSFORM, CRS, VectorizeOptions(threshold=0.7)
        ).graph.number_of_edges()
        == 0
    )


def test_surface_polygons_are_valid_with_area_and_holes() -> None:
    mask = blank()
    mask[20:180, 20:180] = 1  # a square plaza around a 20 m x 20 m island
    mask[80:120, 80:120] = 0
    mask[150:158, 150:154] = 0  # an 8 m2 hole (a car): filled
    vectors = vectorize_array(mask, TRANSFORM, CRS)
    assert len(vectors.surface) == 1
    polygon = vectors.surface.geometry.iloc[0]
    assert polygon.is_valid and len(polygon.interiors) == 1
    expected = (160 * 160 - 40 * 40) * RES**2
    assert vectors.surface.iloc[0]["area_m2"] == pytest.approx(expected, rel=0.01)
    assert polygon.area == pytest.approx(expected, rel=0.01)
    assert polygon.bounds == pytest.approx((445010.0, 5029910.0, 445090.0, 5029990.0), abs=0.01)


def test_areas_and_lengths_on_a_sheared_grid_come_from_both_sides_of_a_pixel() -> None:
    # Columns 0.5 m east, rows 0.5 m south and 0.25 m east: a pixel is 0.25 m2, not
    # 0.5 x 0.56 = 0.28 m2 (the product of its sides' lengths).
    sheared = Affine(RES, RES / 2, 445000.0, 0, -RES, 5030000.0)
    mask = blank()
    mask[40:120, 20:180] = 1
    vectors = vectorize_array(mask, sheared, CRS)
    assert vectors.surface.iloc[0]["area_m2"] == pytest.approx(80 * 160 * RES**2, rel=0.01)
    assert vectors.surface.geometry.iloc[0].area == pytest.approx(80 * 160 * RES**2, rel=0.01)
    # a line one column and one row per step runs 0.75 m east and 0.5 m south per step
    steps = ((RES, 0.0), (RES / 2, -RES))
    assert ground_length(LineString([(0, 0), (10, 10)]), steps) == pytest.approx(
        10 * math.hypot(0.75, 0.5)
    )
    for road in vectors.centerlines.itertuples():
        assert road.length_m == pytest.approx(road.geometry.length, rel=0.01)


def test_specks_are_dropped() -> None:
    mask = blank()
    mask[95:105, :] = 1
    mask[10:14, 10:14] = 1  # a 4 m2 speck
    vectors = vectorize_array(mask, TRANSFORM, CRS)
    assert len(vectors.surface) == 1


def test_empty_scene_gives_empty_typed_layers() -> None:
    vectors = vectorize_array(blank(), TRANSFORM, CRS)
    assert vectors.centerlines.empty and vectors.surface.empty
    assert {"length_m", "width_m"} <= set(vectors.centerlines.columns)
    assert "area_m2" in vectors.surface.columns
    assert vectors.centerlines.crs.to_epsg() == 32618
    assert vectors.graph.number_of_nodes() == 0


def test_graph_matches_the_lines() -> None:
    mask = blank()
    mask[95:105, :] = 1
    mask[:100, 95:105] = 1
    vectors = vectorize_array(mask, TRANSFORM, CRS)
    lengths = sorted(length for *_, length in vectors.graph.edges(data="length_m"))
    assert lengths == sorted(vectors.centerlines["length_m"])
    for u, v, geometry in vectors.graph.edges(data="geometry"):
        ends = {geometry.coords[0], geometry.coords[-1]}
        assert ends == {vectors.graph.nodes[u]["xy"], vectors.graph.nodes[v]["xy"]}


def test_options_in_metres_hold_at_another_resolution() -> None:
    # The same 100 m x 5 m road with its 5 m bump, at 0.25 m per pixel instead of 0.5.
    fine = Affine(0.25, 0, 445000.0, 0, -0.25, 5030000.0)
    mask = np.zeros((400, 400), np.float32)
    mask[190:210, :] = 1
    mask[170:190, 280:292] = 1
    vectors = vectorize_array(mask, fine, CRS, VectorizeOptions(min_spur_m=10.0))
    assert len(vectors.centerlines) == 1
    assert vectors.centerlines.iloc[0]["length_m"] == pytest.approx(100, rel=0.02)
    assert vectors.centerlines.iloc[0]["width_m"] == pytest.approx(5, rel=0.1)


def test_geographic_crs_lengths_are_in_metres() -> None:
    # ~0.5 m pixels in degrees near Ottawa: 0.5 m is 4.5e-6 degrees of latitude.
    dlat = 0.5 / 111_180
    dlon = 0.5 / (111_320 * np.cos(np.radians(45.4)))
    geographic = Affine(dlon, 0, -75.7, 0, -dlat, 45.4)
    mask = blank()
    mask[95:105, :] = 1
    vectors = vectorize_array(mask, geographic, "EPSG:4326")
    assert vectors.centerlines.iloc[0]["length_m"] == pytest.approx(100, rel=0.02)
    assert vectors.centerlines.iloc[0]["width_m"] == pytest.approx(5, rel=0.1)
    assert vectors.surface.iloc[0]["area_m2"] == pytest.approx(500, rel=0.03)


def test_pixel_size_in_web_mercator_is_ground_metres() -> None:
    # Web Mercator "metres" stretch by 1 / cos(latitude): at ~45 N a 1 m pixel is ~0.7 m.
    mercator = Affine(1.0, 0, -8_426_000.0, 0, -1.0, 5_685_000.0)
    x, y = pixel_size_m(mercator, "EPSG:3857", (100, 100))
    assert x == pytest.approx(np.cos(np.radians(45.4)), rel=0.01)
    assert y == pytest.approx(x, rel=0.01)
    assert pixel_size_m(TRANSFORM, None, (10, 10)) == (RES, RES)


def test_skeleton_graph_of_nothing_is_empty() -> None:
    assert skeleton_graph(np.zeros((10, 10), bool)).number_of_nodes() == 0


def test_skeleton_graph_of_lone_pixels_is_empty_and_keeps_the_lines() -> None:
    specks = np.zeros((10, 10), bool)
    specks[1, 1] = specks[5, 5] = True  # no pixel has a neighbour: skan alone fails here
    assert skeleton_graph(specks).number_of_nodes() == 0
    specks[8, 2:7] = True  # a five-pixel line beside them
    graph = skeleton_graph(specks)
    assert graph.number_of_edges() == 1
    ((_, _, coords),) = graph.edges(data="coords")
    assert len(coords) == 5


def test_a_round_blob_alone_gives_no_line_and_no_error() -> None:
    # a disc thins to one pixel: a surface polygon, but no centreline
    rows, cols = np.mgrid[:64, :64]
    disc = ((rows - 32) ** 2 + (cols - 32) ** 2 <= 15**2).astype(np.uint8)
    vectors = vectorize_array(disc, TRANSFORM, CRS)
    assert len(vectors.centerlines) == 0
    assert len(vectors.surface) == 1


def _write(
    path: Path, array: np.ndarray, crs: str | None = CRS, nodata: float | None = None
) -> Path:
    profile = {
        "driver": "GTiff",
        "width": array.shape[-1],
        "height": array.shape[-2],
        "count": 1 if array.ndim == 2 else array.shape[0],
        "dtype": array.dtype.name,
        "transform": TRANSFORM,
        "nodata": nodata,
    }
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array if array.ndim == 3 else array[None])
    return path


def test_read_scales_0_255_masks_and_takes_band_one(tmp_path: Path) -> None:
    mask = np.zeros((2, 200, 200), np.uint8)
    mask[0, 95:105, :] = 255
    mask[1, :, 95:105] = 255  # band 2 is ignored
    values, transform, crs = read_road_raster(_write(tmp_path / "m.tif", mask))
    assert values.dtype == np.float32 and values.max() == 1.0
    assert transform == TRANSFORM and crs.to_epsg() == 32618
    vectors = vectorize_raster(tmp_path / "m.tif")
    assert len(vectors.centerlines) == 1


def test_read_nodata_becomes_nan(tmp_path: Path) -> None:
    prob = np.zeros((20, 20), np.float32)
    prob[:5] = -1.0
    values, _, _ = read_road_raster(_write(tmp_path / "p.tif", prob, nodata=-1.0))
    assert np.isnan(values[:5]).all() and (values[5:] == 0).all()


def test_read_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(RoadkdError, match="raster not found"):
        read_road_raster(tmp_path / "missing.tif")
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"II*\x00garbage")
    with pytest.raises(RoadkdError, match="cannot read"):
        read_road_raster(corrupt)
    with pytest.raises(RoadkdError, match="no coordinate reference system"):
        read_road_raster(_write(tmp_path / "nocrs.tif", np.zeros((8, 8), np.uint8), crs=None))
    logits = np.full((8, 8), 3.0, np.float32)
    with pytest.raises(RoadkdError, match=r"expected road probabilities in \[0, 1\]"):
        read_road_raster(_write(tmp_path / "logits.tif", logits))


@pytest.mark.parametrize("res", [0.5, 0.21, 0.1])
def test_a_wide_road_leaving_the_raster_reaches_its_edges_at_any_resolution(res: float) -> None:
    # A 10 m road across a 60 m raster: its centreline runs edge to edge, not half a road
    # width short of each border, whatever the pixel size.
    size = round(60 / res)
    prob = np.zeros((size, size), np.float32)
    prob[size // 2 - round(5 / res) : size // 2 + round(5 / res), :] = 1.0
    transform = Affine(res, 0, 445000.0, 0, -res, 5030000.0)
    lines = vectorize_array(prob, transform, CRS).centerlines
    assert len(lines) == 1
    assert lines.iloc[0]["length_m"] == pytest.approx(60, rel=0.01)
