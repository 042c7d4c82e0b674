"""Predicting a scene block by block (as Dask workers do) equals predicting it whole."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from stand_ins import TileMean

from roadkd.datasets.layout import write_geotiff
from roadkd.imagery import SceneReader
from roadkd.inference import load_backend, predict_scene
from roadkd.inference.window import predict_region

TRANSFORM = Affine(0.21, 0, 445000.0, 0, -0.21, 5030000.0)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random pixels with a nodata corner, 150 x 140 (not a whole number of tiles)."""
    path = tmp_path_factory.mktemp("scene") / "scene.tif"
    pixels = np.random.default_rng(1).integers(1, 256, (3, 150, 140), dtype=np.uint8)
    pixels[:, :20, :30] = 0
    write_geotiff(path, pixels, TRANSFORM, "EPSG:32618")
    with rasterio.open(path, "r+") as dst:
        dst.nodata = 0
    return path


@pytest.mark.parametrize(
    ("model", "tile", "overlap"),
    [("network", 64, 16), ("network", 96, 32), ("tile mean", 64, 0), ("tile mean", 64, 16)],
)
def test_regions_equal_the_whole_scene(
    model_path: Path, scene: Path, tmp_path: Path, model: str, tile: int, overlap: int
) -> None:
    backend = load_backend(model_path, "cpu") if model == "network" else TileMean()
    whole = tmp_path / "whole.tif"
    predict_scene(scene, backend, whole, tile=tile, overlap=overlap, batch_size=3)  # type: ignore[arg-type]
    with rasterio.open(whole) as src:
        expected = src.read(1)
    assert np.isnan(expected[:20, :30]).all() and np.isfinite(expected[20:]).all()
    pieces = np.full_like(expected, -1.0)
    with SceneReader(scene, backend.in_channels, backend.data.resolution_m) as reader:
        # Blocks of 50 x 32, the last ones short. With 64 px tiles and no overlap the last
        # tile holds 12 columns of the scene and 52 reflected ones, which the block at
        # column 128 must read from columns left of its tiles, as the whole-scene pass does.
        for row in range(0, 150, 50):
            for col in range(0, 140, 32):
                rows, cols = min(50, 150 - row), min(32, 140 - col)
                region = (row, col, rows, cols)
                pieces[row : row + rows, col : col + cols] = predict_region(
                    reader,
                    backend,  # type: ignore[arg-type]
                    region,
                    tile,
                    overlap,
                    batch_size=2,
                )
    np.testing.assert_allclose(pieces, expected, atol=1e-6, equal_nan=True)
