"""Confidence of road vectors sampled from the probability raster (known answers)."""

import math
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner
from roadkd_cli.main import cli
from shapely.geometry import LineString, Polygon, box

from roadkd.errors import RoadkdError
from roadkd.vectorize import confidence
from roadkd.vectorize.confidence import (
    line_confidence,
    lowest_stretch_mean,
    surface_confidence,
)

# 0.5 m pixels, 200 x 200, upper-left corner at (445000, 5030000), UTM 18N
TRANSFORM = Affine(0.5, 0, 445000.0, 0, -0.5, 5030000.0)
X0, Y0 = 445000.0, 5030000.0


def write_prob(path: Path, array: np.ndarray, nodata: float | None = None) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=array.shape[1],
        height=array.shape[0],
        count=1,
        dtype=array.dtype.name,
        crs="EPSG:32618",
        transform=TRANSFORM,
        nodata=nodata,
    ) as dst:
        dst.write(array[None])
    return path


def row_line(row: int, col0: int = 10, col1: int = 190) -> LineString:
    """A horizontal line through the centres of one pixel row."""
    y = Y0 - (row + 0.5) * 0.5
    return LineString([(X0 + col0 * 0.5, y), (X0 + col1 * 0.5, y)])


def frame(*geometries: object, crs: str = "EPSG:32618") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=list(geometries), crs=crs)


def test_line_on_a_constant_road_has_that_confidence(tmp_path: Path) -> None:
    prob = np.full((200, 200), 0.1, np.float32)
    prob[100, :] = 0.8
    path = write_prob(tmp_path / "p.tif", prob)
    out = line_confidence(frame(row_line(100), row_line(20)), path)
    assert out["confidence"].tolist() == [0.8, 0.1]
    assert out["min_confidence"].tolist() == [0.8, 0.1]


def test_min_confidence_finds_the_weak_ten_metres(tmp_path: Path) -> None:
    prob = np.full((200, 200), 0.9, np.float32)
    prob[100, 100:120] = 0.2  # 10 m (20 pixels) of a 90 m line under a tree
    path = write_prob(tmp_path / "p.tif", prob)
    out = line_confidence(frame(row_line(100)), path).iloc[0]
    assert out["min_confidence"] == pytest.approx(0.2, abs=0.01)
    # mean: 20 of 180 samples at 0.2, the rest at 0.9
    assert out["confidence"] == pytest.approx((160 * 0.9 + 20 * 0.2) / 180, abs=1e-3)


def test_a_line_shorter_than_the_stretch_uses_its_mean(tmp_path: Path) -> None:
    prob = np.full((200, 200), 0.9, np.float32)
    prob[100, 10:14] = 0.1
    path = write_prob(tmp_path / "p.tif", prob)
    out = line_confidence(frame(row_line(100, 10, 18)), path).iloc[0]  # 4 m long
    assert out["confidence"] == pytest.approx(0.5) and out["min_confidence"] == pytest.approx(0.5)


def test_lowest_stretch_mean_skips_nodata() -> None:
    values = np.array([1.0, 1.0, np.nan, np.nan, 0.0, 1.0])
    assert lowest_stretch_mean(values, 2) == 0.0
    assert lowest_stretch_mean(values, 10) == pytest.approx(0.75)
    assert math.isnan(lowest_stretch_mean(np.array([np.nan, np.nan]), 1))


def test_lines_in_another_crs_and_off_the_raster(tmp_path: Path) -> None:
    prob = np.full((200, 200), 0.1, np.float32)
    prob[100, :] = 0.8
    path = write_prob(tmp_path / "p.tif", prob)
    far = LineString([(X0 - 500, Y0), (X0 - 400, Y0)])
    lines = frame(row_line(100), far).to_crs("EPSG:4326")
    out = line_confidence(lines, path)
    assert out["confidence"].iloc[0] == pytest.approx(0.8)
    assert math.isnan(out["confidence"].iloc[1]) and math.isnan(out["min_confidence"].iloc[1])
    assert out.crs.to_epsg() == 4326  # the layer keeps its CRS


def test_nodata_is_left_out(tmp_path: Path) -> None:
    prob = np.full((200, 200), 0.6, np.float32)
    prob[100, 100:] = np.nan
    path = write_prob(tmp_path / "p.tif", prob, nodata=float("nan"))
    assert line_confidence(frame(row_line(100)), path)["confidence"].iloc[0] == 0.6


def test_surface_confidence_is_the_mean_inside(tmp_path: Path) -> None:
    prob = np.zeros((200, 200), np.float32)
    prob[50:60, 50:70] = 0.7  # a 10 x 20 px patch
    prob[50:60, 70:90] = 0.3
    path = write_prob(tmp_path / "p.tif", prob)
    patch = box(X0 + 25, Y0 - 30, X0 + 45, Y0 - 25)  # exactly both patches
    sliver = Polygon([(X0 + 25.1, Y0 - 25.1), (X0 + 25.3, Y0 - 25.1), (X0 + 25.3, Y0 - 25.3)])
    out = surface_confidence(frame(patch, sliver), path)
    assert out["confidence"].tolist() == [0.5, 0.7]  # the sliver touches one 0.7 pixel


def test_surface_read_in_tiles_matches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    prob = rng.random((200, 200)).astype(np.float32)
    path = write_prob(tmp_path / "p.tif", prob)
    shape = box(X0 + 5, Y0 - 90, X0 + 95, Y0 - 3).buffer(-2)
    whole = surface_confidence(frame(shape), path)["confidence"].iloc[0]
    monkeypatch.setattr(confidence, "TILE_PX", 7)
    assert surface_confidence(frame(shape), path)["confidence"].iloc[0] == whole
    monkeypatch.setattr(confidence, "CHUNK_SAMPLES", 3)
    line = LineString([(X0 + 1, Y0 - 1), (X0 + 99, Y0 - 99)])
    a = line_confidence(frame(line), path)
    monkeypatch.undo()
    assert line_confidence(frame(line), path)["confidence"].iloc[0] == a["confidence"].iloc[0]


def test_a_0_255_mask_is_scaled(tmp_path: Path) -> None:
    mask = np.zeros((200, 200), np.uint8)
    mask[100, :] = 255
    path = write_prob(tmp_path / "m.tif", mask)
    assert line_confidence(frame(row_line(100)), path)["confidence"].iloc[0] == 1.0


def test_not_a_probability_raster(tmp_path: Path) -> None:
    path = write_prob(tmp_path / "dem.tif", np.full((200, 200), 120.0, np.float32))
    with pytest.raises(RoadkdError, match=r"values up to 120"):
        line_confidence(frame(row_line(100)), path)
    with pytest.raises(RoadkdError, match="not found"):
        line_confidence(frame(row_line(100)), tmp_path / "missing.tif")


def test_empty_layers_get_the_columns(tmp_path: Path) -> None:
    path = write_prob(tmp_path / "p.tif", np.zeros((20, 20), np.float32))
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs="EPSG:32618"))
    assert list(line_confidence(empty, path).columns) == [
        "geometry",
        "confidence",
        "min_confidence",
    ]
    assert "confidence" in surface_confidence(empty, path).columns


def test_vectorize_writes_confidence(tmp_path: Path) -> None:
    prob = np.full((200, 200), 0.05, np.float32)
    prob[95:105, :] = 0.9
    path = write_prob(tmp_path / "p.tif", prob)
    out = tmp_path / "roads.gpkg"
    result = CliRunner().invoke(cli, ["vectorize", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = gpd.read_file(out, layer="centerlines")
    assert lines["confidence"].tolist() == [0.9] and lines["min_confidence"].tolist() == [0.9]
    assert gpd.read_file(out, layer="surface")["confidence"].tolist() == [0.9]


@pytest.mark.slow
def test_predict_writes_confidence(
    tmp_path: Path,
    save_all_road_model: Callable[..., Path],
) -> None:
    from roadkd.pipeline.predict import PredictSettings, run_predict

    # a model that calls every valid pixel road with p = sigmoid(5), on a 10 m strip
    save_all_road_model(tmp_path / "m.pt")
    pixels = np.zeros((3, 200, 200), np.uint8)
    pixels[:, 90:110] = 120
    scene = tmp_path / "scene.tif"
    with rasterio.open(
        scene, "w", driver="GTiff", width=200, height=200, count=3, dtype="uint8",
        crs="EPSG:32618", transform=TRANSFORM, nodata=0,
    ) as dst:  # fmt: skip
        dst.write(pixels)
    result = run_predict(
        [scene], tmp_path / "m.pt", tmp_path / "roads.gpkg", PredictSettings(device="cpu")
    )
    expected = round(1 / (1 + math.exp(-5)), 3)
    assert result.centerlines is not None and result.surface is not None
    assert result.centerlines["confidence"].tolist() == [expected]
    assert result.centerlines["min_confidence"].tolist() == [expected]
    assert result.surface["confidence"].tolist() == [expected]
    written = gpd.read_file(tmp_path / "roads.gpkg", layer="centerlines")
    assert written["confidence"].tolist() == [expected]
