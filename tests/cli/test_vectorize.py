"""`roadkd vectorize` end to end: outputs, summary line, and every bad input."""

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner
from roadkd_cli.main import cli

TRANSFORM = Affine(0.5, 0, 445000.0, 0, -0.5, 5030000.0)


def write_raster(path: Path, array: np.ndarray, crs: str | None = "EPSG:32618") -> Path:
    profile = {
        "driver": "GTiff",
        "width": array.shape[1],
        "height": array.shape[0],
        "count": 1,
        "dtype": array.dtype.name,
        "transform": TRANSFORM,
    }
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array[None])
    return path


@pytest.fixture
def t_junction(tmp_path: Path) -> Path:
    prob = np.full((200, 200), 0.05, np.float32)
    prob[95:105, :] = 0.9
    prob[:100, 95:105] = 0.8
    return write_raster(tmp_path / "prob.tif", prob)


def run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["vectorize", *args])
    return result.exit_code, result.output


def test_geojson_centrelines_and_gpkg_surfaces(t_junction: Path, tmp_path: Path) -> None:
    out, surface = tmp_path / "roads.geojson", tmp_path / "surface.gpkg"
    code, output = run([str(t_junction), "--out", str(out), "--polygons", str(surface)])
    assert code == 0, output
    summary = output.strip()
    assert summary.startswith("3 road lines, 0.15 km, 1 surface polygons (1 block, 1 worker, ")
    assert summary.endswith(f"MP/s) -> {out}")
    lines = gpd.read_file(out)
    assert len(lines) == 3 and lines.crs.to_epsg() == 4326
    assert lines["length_m"].sum() == pytest.approx(150, rel=0.03)
    polygons = gpd.read_file(surface, layer="surface")
    assert len(polygons) == 1 and polygons.crs.to_epsg() == 32618 and polygons.is_valid.all()


def test_gpkg_out_holds_both_layers_and_options_apply(t_junction: Path, tmp_path: Path) -> None:
    out = tmp_path / "roads.gpkg"
    # a high threshold keeps only the 0.9 road; a large minimum area drops its surface
    code, output = run(
        [str(t_junction), "--out", str(out), "--threshold", "0.85", "--min-area-m2", "1000"]
    )
    assert code == 0, output
    assert len(gpd.read_file(out, layer="centerlines")) == 1
    assert len(gpd.read_file(out, layer="surface")) == 0


def test_shapefile_and_uint8_mask(tmp_path: Path) -> None:
    mask = np.zeros((200, 200), np.uint8)
    mask[95:105, :] = 255
    raster = write_raster(tmp_path / "mask.tif", mask)
    code, output = run([str(raster), "--out", str(tmp_path / "roads.shp")])
    assert code == 0, output
    back = gpd.read_file(tmp_path / "roads.shp")
    assert back.crs.to_epsg() == 32618
    assert back.iloc[0]["length_m"] == pytest.approx(100, rel=0.02)
    # dBase names: every field fits 10 characters by a name roadkd chose
    assert {"length_m", "width_m", "confidence", "min_conf"} <= set(back.columns)
    assert back.iloc[0]["min_conf"] == pytest.approx(1.0)


def test_empty_scene_writes_an_empty_feature_collection(tmp_path: Path) -> None:
    raster = write_raster(tmp_path / "empty.tif", np.zeros((64, 64), np.float32))
    out = tmp_path / "roads.geojson"
    code, output = run([str(raster), "--out", str(out)])
    assert code == 0, output
    assert output.startswith("0 road lines, 0.00 km")
    assert json.loads(out.read_text()) == {"type": "FeatureCollection", "features": []}


def expect_error(args: list[str], message: str, folder: Path) -> None:
    """The command fails with one clear line, no traceback, and writes nothing."""
    before = set(folder.rglob("*"))
    code, output = run(args)
    assert code != 0, output
    assert message in output, output
    assert "Traceback" not in output
    assert set(folder.rglob("*")) == before


def test_bad_inputs(t_junction: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "roads.geojson")
    expect_error([str(tmp_path / "missing.tif"), "--out", out], "raster not found", tmp_path)
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"II*\x00garbage")
    expect_error([str(corrupt), "--out", out], "cannot read", tmp_path)
    no_crs = write_raster(tmp_path / "nocrs.tif", np.ones((8, 8), np.uint8), crs=None)
    expect_error([str(no_crs), "--out", out], "no coordinate reference system", tmp_path)
    logits = write_raster(tmp_path / "logits.tif", np.full((8, 8), 4.0, np.float32))
    expect_error([str(logits), "--out", out], "expected road probabilities", tmp_path)


def test_bad_outputs_fail_before_any_work(t_junction: Path, tmp_path: Path) -> None:
    raster = str(t_junction)
    expect_error([raster, "--out", str(tmp_path / "roads.kml")], "use one of", tmp_path)
    expect_error(
        [raster, "--out", str(tmp_path / "nowhere" / "roads.geojson")], "does not exist", tmp_path
    )
    # an unwritable --polygons is found before the centrelines are written
    expect_error(
        [
            raster,
            "--out",
            str(tmp_path / "roads.geojson"),
            "--polygons",
            str(tmp_path / "nowhere" / "surface.gpkg"),
        ],
        "does not exist",
        tmp_path,
    )
    same = str(tmp_path / "roads.gpkg")
    expect_error([raster, "--out", same, "--polygons", same], "must differ", tmp_path)
    expect_error([raster, "--out", same, "--threshold", "0"], "Invalid value", tmp_path)
    expect_error([raster, "--out", same, "--bridge-m", "-1"], "Invalid value", tmp_path)
