"""Blockwise vectorisation equals the whole-scene result, however many seams cut it."""

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner
from roadkd_cli.main import cli
from stand_ins import drawn, write_tiles

from roadkd.datasets.synthetic import generate_scene
from roadkd.errors import RoadkdError
from roadkd.grid import Grid
from roadkd.vectorize import RoadVectors, VectorizeOptions, vectorize_array, vectorize_raster
from roadkd.vectorize.blocks import halo_px, plan_blocks, vectorize_block
from roadkd.vectorize.core import road_pixels
from roadkd.vectorize.engine import Network, Vectorizer
from roadkd.vectorize.executors import InProcess
from roadkd.vectorize.mosaic import vectorize_mosaic

RES = 0.5
TRANSFORM = Affine(RES, 0, 445000.0, 0, -RES, 5030000.0)
CRS = "EPSG:32618"


def seam_ends(vectors: RoadVectors, block: int) -> int:
    """Dead ends lying on a seam (a line broken there), in pixels of TRANSFORM."""
    count = 0
    for node, degree in vectors.graph.degree():
        if degree != 1:
            continue
        x, y = vectors.graph.nodes[node]["xy"]
        col, row = ~TRANSFORM @ (x, y)
        if min(abs(col - round(col / block) * block), abs(row - round(row / block) * block)) < 1:
            count += 1
    return count


def assert_same(prob: np.ndarray, block: int, options: VectorizeOptions | None = None) -> None:
    """The blockwise result equals the whole scene's (within the issue's tolerances)."""
    whole = vectorize_array(prob, TRANSFORM, CRS, options)
    parts = vectorize_array(prob, TRANSFORM, CRS, options, block=block)
    assert len(plan_blocks(Grid.of(TRANSFORM, CRS, prob.shape), block, VectorizeOptions())) > 1
    length, stitched = whole.centerlines["length_m"].sum(), parts.centerlines["length_m"].sum()
    assert stitched == pytest.approx(length, rel=0.005)
    assert nx.number_connected_components(parts.graph) == nx.number_connected_components(
        whole.graph
    )
    # the same lines: none broken at a seam, no junction lost or doubled
    assert len(parts.centerlines) == len(whole.centerlines)
    assert sorted(d for _, d in parts.graph.degree()) == sorted(d for _, d in whole.graph.degree())
    assert seam_ends(parts, block) == seam_ends(whole, block)
    assert len(parts.surface) == len(whole.surface)
    assert parts.surface["area_m2"].sum() == pytest.approx(
        whole.surface["area_m2"].sum(), rel=0.002
    )
    assert parts.surface.geometry.is_valid.all()


@pytest.mark.parametrize("block", [64, 100, 128])
def test_roads_crossing_seams_at_shallow_angles(block: int) -> None:
    prob = drawn(400, [((100, 0), (140, 399)), ((0, 30), (399, 70)), ((390, 0), (250, 399))], 10)
    assert_same(prob, block)


def test_road_running_along_a_seam() -> None:
    prob = np.zeros((300, 300), np.float32)
    prob[123:133, :] = 1  # centred on the seam between rows 127 and 128
    prob[95:105, 0:100] = 1
    prob[95:133, 90:100] = 1
    assert_same(prob, 128)


def test_junctions_on_seams_and_at_a_corner_of_four_blocks() -> None:
    # a crossroads where four blocks meet, another on a seam, a T junction beside it
    prob = drawn(
        384, [((128, 0), (128, 383)), ((0, 128), (383, 128)), ((300, 256), (300, 383))], 12
    )
    prob = np.maximum(prob, drawn(384, [((0, 256), (383, 256))], 8))
    assert_same(prob, 128)
    vectors = vectorize_array(prob, TRANSFORM, CRS, block=128)
    degrees = sorted(d for _, d in vectors.graph.degree())
    assert degrees.count(4) == 2 and degrees.count(3) == 1


def test_wide_crossroads_on_a_seam_is_one_node() -> None:
    prob = np.zeros((400, 400), np.float32)
    prob[180:220, :] = 1  # 20 m roads: the skeleton splits the junction, merged again
    prob[:, 170:230] = 1
    assert_same(prob, 200)
    assert_same(prob, 96)


def test_gap_on_a_seam_is_bridged_across_it() -> None:
    prob = np.zeros((200, 400), np.float32)
    prob[95:105, :196] = 1
    prob[95:105, 204:] = 1  # a 4 m gap across the seam at column 200
    assert_same(prob, 200)
    assert_same(prob, 100)
    vectors = vectorize_array(prob, TRANSFORM, CRS, block=100)
    assert len(vectors.centerlines) == 1


def test_spur_and_small_network_cut_by_seams() -> None:
    prob = np.zeros((300, 300), np.float32)
    prob[95:105, :] = 1
    prob[85:95, 124:132] = 1  # a 4 m whisker across the seam at column 128: pruned
    prob[200:206, 120:140] = 1  # a 10 m blob across the same seam: dropped
    assert_same(prob, 128)
    vectors = vectorize_array(prob, TRANSFORM, CRS, block=128)
    assert len(vectors.centerlines) == 1


@pytest.mark.parametrize("block", [128, 200])
def test_ring_across_four_blocks_is_one_closed_line(block: int) -> None:
    rows, cols = np.mgrid[:400, :400]
    radius = np.hypot(rows - 200, cols - 200)
    prob = ((radius > 145) & (radius < 155)).astype(np.float32)
    assert_same(prob, block)
    ring = vectorize_array(prob, TRANSFORM, CRS, block=block).centerlines
    assert len(ring) == 1 and ring.geometry.iloc[0].is_ring
    assert ring["length_m"].iloc[0] == pytest.approx(2 * np.pi * 150 * RES, rel=0.01)


def test_plaza_polygon_with_a_hole_merges_across_seams() -> None:
    prob = np.zeros((300, 300), np.float32)
    prob[20:280, 20:280] = 1
    prob[110:190, 110:190] = 0  # a 40 m island cut by four seams
    assert_same(prob, 150)
    surface = vectorize_array(prob, TRANSFORM, CRS, block=150).surface
    assert len(surface) == 1 and len(surface.geometry.iloc[0].interiors) == 1
    assert surface["area_m2"].iloc[0] == pytest.approx((260**2 - 80**2) * RES**2, rel=0.01)


def test_synthetic_scene_with_many_seams() -> None:
    scene = generate_scene(512, np.random.default_rng(3))
    rng = np.random.default_rng(1)
    prob = np.clip(0.1 + 0.8 * scene.surface + rng.normal(0, 0.05, scene.surface.shape), 0, 1)
    assert_same(prob.astype(np.float32), 128)


def test_halo_covers_every_metre_setting() -> None:
    options = VectorizeOptions(bridge_m=50.0)
    assert halo_px(options, 0.5) >= 100
    assert halo_px(VectorizeOptions(), 0.21) * 0.21 >= VectorizeOptions().max_road_width_m
    with pytest.raises(RoadkdError, match="--block"):
        plan_blocks(Grid.of(TRANSFORM, CRS, (10, 10)), 0, options)


def test_raster_in_blocks_and_in_worker_processes(tmp_path: Path) -> None:
    prob = drawn(300, [((20, 0), (280, 299)), ((150, 0), (150, 299))], 10)
    path = tmp_path / "prob.tif"
    profile = {"driver": "GTiff", "width": 300, "height": 300, "count": 1, "dtype": "float32"}
    with rasterio.open(path, "w", crs=CRS, transform=TRANSFORM, **profile) as dst:
        dst.write(prob[None])
    whole = vectorize_array(prob, TRANSFORM, CRS)
    local = vectorize_raster(path, block=100)
    parallel = vectorize_raster(path, block=100, workers=2)
    for vectors in (local, parallel):
        assert len(vectors.centerlines) == len(whole.centerlines) == 5
        assert vectors.centerlines["length_m"].sum() == pytest.approx(
            whole.centerlines["length_m"].sum(), rel=0.005
        )
    # the order of the features does not depend on which worker finished first
    assert list(parallel.centerlines["length_m"]) == list(local.centerlines["length_m"])
    with pytest.raises(RoadkdError, match="--workers"):
        vectorize_raster(path, workers=0)


def test_blocks_finish_what_no_seam_cuts() -> None:
    # a crossroads inside one block, a road across a seam, a blob inside a block
    prob = drawn(300, [((50, 10), (50, 90)), ((10, 50), (90, 50)), ((150, 0), (150, 299))], 10)
    prob[220:260, 220:260] = 1
    grid = Grid.of(TRANSFORM, CRS, prob.shape)
    blocks = plan_blocks(grid, 100, VectorizeOptions())
    pieces = [
        vectorize_block(road_pixels(prob[b.window_slices], 0.5), b, grid, VectorizeOptions())
        for b in blocks
    ]
    first = pieces[0]  # the crossroads' four arms end inside the first block
    assert len(first.lines) == 4 and all(line.feature is not None for line in first.lines)
    assert all(len(line.coords) == 2 for line in first.lines)
    # the road across the seams is left to stitching, and so are its polygons
    across = [line for b in pieces[3:6] for line in b.lines]
    assert across and all(line.feature is None for line in across)
    assert len(pieces[8].surfaces) == 1 and not pieces[8].seam_polygons
    whole = vectorize_array(prob, TRANSFORM, CRS)
    stitched = vectorize_array(prob, TRANSFORM, CRS, block=100)
    # the crossroads' lines are exactly the whole scene's, finished in their block or not
    crossroads = stitched.centerlines.geometry.iloc[:4]
    assert crossroads.geom_equals_exact(whole.centerlines.geometry.iloc[:4], 0).all()
    assert len(stitched.centerlines) == len(whole.centerlines) == 5
    assert sorted(stitched.surface["area_m2"]) == sorted(whole.surface["area_m2"])


@pytest.mark.parametrize("workers", [1, 2])
def test_one_progress_bar_counts_every_block(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: int
) -> None:
    prob = drawn(300, [((20, 0), (280, 299))], 10)
    path = tmp_path / "prob.tif"
    profile = {"driver": "GTiff", "width": 300, "height": 300, "count": 1, "dtype": "float32"}
    with rasterio.open(path, "w", crs=CRS, transform=TRANSFORM, **profile) as dst:
        dst.write(prob[None])
    vectorize_raster(path, block=100, workers=workers, progress=True)
    bar = capsys.readouterr().err
    assert "vectorize" in bar and "9/9" in bar and "block" in bar
    vectorize_raster(path, block=100, workers=workers)
    assert capsys.readouterr().err == ""


def test_rows_streamed_in_bands_give_the_whole_scene_result() -> None:
    prob = drawn(300, [((20, 0), (280, 299)), ((150, 0), (150, 299)), ((0, 200), (299, 180))], 10)
    whole = vectorize_array(prob, TRANSFORM, CRS)
    network = Network.plan(Grid.of(TRANSFORM, CRS, prob.shape), 100, VectorizeOptions())
    with Vectorizer(network, InProcess()) as stream:
        for row in range(0, 300, 48):  # bands that do not line up with the blocks
            stream.push(row, prob[row : row + 48])
        streamed = stream.finish()
    assert len(streamed.centerlines) == len(whole.centerlines)
    assert streamed.centerlines["length_m"].sum() == pytest.approx(
        whole.centerlines["length_m"].sum(), rel=0.005
    )
    assert streamed.work is not None and streamed.work.blocks == 9
    with Vectorizer(network, InProcess()) as stream, pytest.raises(ValueError, match="in order"):
        stream.push(10, prob[10:20])


def test_adjacent_rasters_are_one_network(tmp_path: Path) -> None:
    prob = drawn(300, [((20, 0), (280, 299)), ((150, 0), (150, 299))], 10)
    whole = vectorize_array(prob, TRANSFORM, CRS)
    tiles = write_tiles(tmp_path, prob, 150, TRANSFORM, CRS)
    joined = vectorize_mosaic(tiles, block=100)
    assert len(joined.centerlines) == len(whole.centerlines) == 5
    assert joined.centerlines["length_m"].sum() == pytest.approx(
        whole.centerlines["length_m"].sum(), rel=0.005
    )
    assert nx.number_connected_components(joined.graph) == 1
    shifted = tmp_path / "shifted.tif"
    with rasterio.open(tiles[0]) as src:
        profile = {**src.profile, "transform": src.transform @ Affine.translation(0.5, 0)}
        data = src.read()
    with rasterio.open(shifted, "w", **profile) as dst:
        dst.write(data)
    with pytest.raises(RoadkdError, match="not on the grid"):
        vectorize_mosaic([tiles[1], shifted])


def test_geoparquet_output_and_the_cli_summary(tmp_path: Path) -> None:
    prob = drawn(600, [((20, 0), (580, 599)), ((300, 0), (300, 599))], 10)
    raster = tmp_path / "prob.tif"
    profile = {"driver": "GTiff", "width": 600, "height": 600, "count": 1, "dtype": "float32"}
    with rasterio.open(raster, "w", crs=CRS, transform=TRANSFORM, **profile) as dst:
        dst.write(prob[None])
    out = tmp_path / "roads.parquet"
    args = ["vectorize", str(raster), "--out", str(out), "--block", "256", "--workers", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "(9 blocks, 1 worker, " in result.output and "MP/s) -> " in result.output
    lines = gpd.read_parquet(out)
    assert lines.crs.to_epsg() == 32618 and len(lines) == 5
    whole = vectorize_array(prob, TRANSFORM, CRS)
    assert lines["length_m"].sum() == pytest.approx(whole.centerlines["length_m"].sum(), rel=0.005)
