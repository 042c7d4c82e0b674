"""Tiled whole-scene inference and the predict / vectorize commands on generated data."""

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from click.testing import CliRunner
from rasterio.windows import Window
from roadkd_cli.main import cli
from stand_ins import TileMean

from roadkd.datasets.layout import write_geotiff
from roadkd.imagery import ReadOptions
from roadkd.inference import load_backend, predict_scene
from roadkd.inference.predict import PROBABILITY_PROFILE, BlockRowWriter
from roadkd.inference.tiling import blend_window, pad_to, tile_origins

TRANSFORM = Affine(0.21, 0, 445000.0, 0, -0.21, 5030000.0)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scene") / "scene.tif"
    pixels = (np.random.default_rng(0).random((3, 150, 170)) * 255).astype(np.uint8)
    write_geotiff(path, pixels, TRANSFORM, "EPSG:32618")
    return path


def test_tile_origins_and_window() -> None:
    assert tile_origins(150, 64, 32) == [0, 32, 64, 96]
    assert tile_origins(64, 64, 32) == [0]
    window = blend_window(8)
    assert window.min() > 0 and window.max() <= 1
    np.testing.assert_allclose(window, window.T)


def test_tiled_equals_full_scene_forward(model_path: Path, scene: Path, tmp_path: Path) -> None:
    backend = load_backend(model_path, "cpu")
    out = tmp_path / "prob.tif"
    predict_scene(scene, backend, out, tile=64, overlap=32, batch_size=3)
    with rasterio.open(scene) as src:
        pixels = src.read().astype(np.float32)
    padded = np.pad(pixels, ((0, 0), (0, 0), (0, 2)), mode="reflect")  # width to an even size
    full = backend.predict(torch.from_numpy(padded)[None])[0, :, :170].numpy()
    with rasterio.open(out) as dst:
        tiled = dst.read(1)
    difference = np.abs(tiled - full)
    # Tiles see zero padding inside the network at their borders; the window hides it,
    # leaving small differences except in the outermost pixels, where the scene's own
    # border padding differs between the two passes.
    interior = difference[4:-4, 4:-4]
    assert interior.mean() < 1e-3 and interior.max() < 0.06
    assert difference.mean() < 5e-3


def test_probability_raster_keeps_grid_and_nodata(model_path: Path, tmp_path: Path) -> None:
    scene = tmp_path / "nodata.tif"
    pixels = np.full((3, 100, 90), 120, np.uint8)
    with rasterio.open(
        scene,
        "w",
        driver="GTiff",
        width=90,
        height=100,
        count=3,
        dtype="uint8",
        crs="EPSG:2154",
        transform=Affine(0.5, 0, 700000, 0, -0.5, 6600000),
        nodata=0,
    ) as dst:
        pixels[:, :10, :] = 0  # a nodata strip
        dst.write(pixels)
    out = tmp_path / "prob.tif"
    native = ReadOptions(native_resolution=True)  # 0.5 m/px scene, 0.21 m/px model
    predict_scene(scene, load_backend(model_path, "cpu"), out, tile=64, overlap=16, options=native)
    with rasterio.open(scene) as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs and dst.transform == src.transform
        assert (dst.width, dst.height) == (src.width, src.height)
        prob = dst.read(1)
    assert np.isnan(prob[:10]).all()
    assert np.isfinite(prob[10:]).all() and prob[10:].min() >= 0 and prob[10:].max() <= 1


@pytest.mark.slow
def test_predict_cli_writes_all_outputs(model_path: Path, scene: Path, tmp_path: Path) -> None:
    args = [
        "predict",
        str(scene),
        "--model",
        str(model_path),
        "--out",
        str(tmp_path / "roads.geojson"),
        "--polygons",
        str(tmp_path / "surface.gpkg"),
        "--prob",
        str(tmp_path / "prob.tif"),
        "--preview",
        str(tmp_path / "preview.png"),
        "--tile",
        "64",
        "--overlap",
        "16",
        "--device",
        "cpu",
        "--progress",
        "json",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "road lines" in result.output
    # progress as JSON lines on stderr: the tiles counted up to their total, then the stages
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    counted = [e for e in events if e["event"] == "progress"]
    tiles = [e["done"] for e in counted if e["stage"] == "predict"]
    assert tiles[0] == 0 and tiles == sorted(set(tiles)) and len(tiles) > 2
    assert {e["total"] for e in counted if e["stage"] == "predict"} == {tiles[-1]}
    blocks = [(e["done"], e["total"]) for e in counted if e["stage"] == "vectorize"]
    assert blocks[0][0] == 0 and blocks[-1][0] == blocks[-1][1]  # the vectorised blocks too
    stages = [e["stage"] for e in events if e["event"] == "stage"]
    assert stages == ["stitch", "confidence", "write"]
    doc = json.loads((tmp_path / "roads.geojson").read_text())
    assert doc["type"] == "FeatureCollection"
    assert gpd.read_file(tmp_path / "surface.gpkg", layer="surface").crs.to_epsg() == 32618
    assert (tmp_path / "preview.png").read_bytes()[:4] == b"\x89PNG"
    with rasterio.open(tmp_path / "prob.tif") as dst:
        assert dst.crs.to_epsg() == 32618


def test_vectorize_cli_on_a_mask(tmp_path: Path) -> None:
    mask = np.zeros((200, 200), np.uint8)
    mask[95:105, :] = 1
    raster = tmp_path / "mask.tif"
    write_geotiff(raster, mask, Affine(0.5, 0, 445000, 0, -0.5, 5030000), "EPSG:32618")
    result = CliRunner().invoke(cli, ["vectorize", str(raster), "--out", str(tmp_path / "r.gpkg")])
    assert result.exit_code == 0, result.output
    lines = gpd.read_file(tmp_path / "r.gpkg", layer="centerlines")
    assert len(lines) == 1 and lines.iloc[0]["length_m"] == pytest.approx(100, rel=0.02)


def _expect_error(args: list[str], message: str, tmp_path: Path) -> None:
    before = set(tmp_path.rglob("*"))
    result = CliRunner().invoke(cli, [*args, "--overlap", "16"])
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert set(tmp_path.rglob("*")) == before  # nothing half-written


def test_predict_bad_inputs(model_path: Path, scene: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "roads.geojson")
    _expect_error(
        ["predict", str(tmp_path / "missing.tif"), "--model", str(model_path), "--out", out],
        "scene not found",
        tmp_path,
    )
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"II*\x00garbage")
    _expect_error(
        ["predict", str(corrupt), "--model", str(model_path), "--out", out], "cannot read", tmp_path
    )
    no_crs = tmp_path / "nocrs.tif"
    with rasterio.open(
        no_crs, "w", driver="GTiff", width=64, height=64, count=3, dtype="uint8"
    ) as dst:
        dst.write(np.zeros((3, 64, 64), np.uint8))
    _expect_error(
        ["predict", str(no_crs), "--model", str(model_path), "--out", out],
        "no coordinate reference system",
        tmp_path,
    )
    gray = tmp_path / "gray.tif"
    write_geotiff(gray, np.zeros((64, 64), np.uint8), TRANSFORM, "EPSG:32618")
    _expect_error(
        ["predict", str(gray), "--model", str(model_path), "--out", out], "needs 3", tmp_path
    )
    _expect_error(
        ["predict", str(scene), "--model", str(tmp_path / "none.ckpt"), "--out", out],
        "model not found",
        tmp_path,
    )
    _expect_error(
        [
            "predict",
            str(scene),
            "--model",
            str(model_path),
            "--out",
            str(tmp_path / "no" / "r.geojson"),
        ],
        "does not exist",
        tmp_path,
    )
    # a --tile of 100 is a usage error (exit 2): see tests/test_user_mistakes.py


def whole_band_reference(scene: Path, backend: TileMean, tile: int, overlap: int) -> np.ndarray:
    """The tiled prediction computed the plain way: each band read whole, padded, blended."""
    with rasterio.open(scene) as src:
        pixels = src.read().astype(np.float32)
    _, height, width = pixels.shape
    stride = tile - overlap
    rows, cols = tile_origins(height, tile, stride), tile_origins(width, tile, stride)
    accumulated = np.zeros((rows[-1] + tile, cols[-1] + tile), np.float32)
    weights = np.zeros_like(accumulated)
    window = blend_window(tile)
    for y0 in rows:
        band = pad_to(pixels[:, y0 : y0 + tile], tile, cols[-1] + tile)
        for x0 in cols:
            tile_pixels = torch.from_numpy(band[None, :, :, x0 : x0 + tile].copy())
            prob = backend.predict(tile_pixels)[0].numpy()
            accumulated[y0 : y0 + tile, x0 : x0 + tile] += prob * window
            weights[y0 : y0 + tile, x0 : x0 + tile] += window
    return (accumulated / weights)[:height, :width]


@pytest.mark.parametrize(("width", "tile", "overlap"), [(660, 32, 8), (870, 32, 0), (1000, 64, 16)])
def test_a_few_tiles_at_a_time_equal_whole_bands(
    tmp_path: Path, width: int, tile: int, overlap: int
) -> None:
    """Bands are read a few tiles at a time, as if read whole.

    At widths 660 and 870 the last read is one tile holding 12 and 6 columns of the scene:
    its reflection past the right edge reaches columns left of it.
    """
    scene = tmp_path / "wide.tif"
    pixels = np.random.default_rng(2).integers(0, 256, (3, 70, width), dtype=np.uint8)
    write_geotiff(scene, pixels, TRANSFORM, "EPSG:32618")
    backend = TileMean()
    out = tmp_path / "prob.tif"
    predict_scene(scene, backend, out, tile=tile, overlap=overlap, batch_size=3)  # type: ignore[arg-type]
    with rasterio.open(out) as src:
        probability = src.read(1)
    expected = whole_band_reference(scene, backend, tile, overlap)
    np.testing.assert_allclose(probability, expected, atol=1e-6)


def test_rows_are_written_in_whole_rows_of_blocks(tmp_path: Path) -> None:
    values = np.random.default_rng(3).random((300, 100)).astype(np.float32)
    profile = {**PROBABILITY_PROFILE, "width": 100, "height": 300, "blockysize": 64}
    profile.update(blockxsize=64)
    written: list[tuple[int, int]] = []
    with rasterio.open(tmp_path / "p.tif", "w", **profile) as dst:
        write = dst.write

        def spy(array: np.ndarray, window: Window) -> None:
            written.append((window.row_off, window.height))
            write(array, window=window)

        dst.write = spy
        writer = BlockRowWriter(dst)
        for row in range(0, 300, 45):
            writer.write(row, values[row : row + 45])
        with pytest.raises(ValueError, match="in order"):
            writer.write(0, values[:45])
    # each write ends on a row of blocks (64 rows), the last one at the raster's end
    assert written == [(0, 64), (64, 64), (128, 64), (192, 64), (256, 44)]
    with rasterio.open(tmp_path / "p.tif") as src:
        np.testing.assert_array_equal(src.read(1), values)
