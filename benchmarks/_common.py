"""Shared set-up for the benchmark scripts (not a test: they print, they never assert)."""

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from roadkd.models import DeployBundle, ModelConfig, build_model, save_bundle

STUDENT = ModelConfig(arch="DeepLabV3Plus", encoder="mobilenet_v2")


def write_student(path: Path, tile_size: int = 512) -> Path:
    """Save a randomly initialised default student (speed does not depend on training)."""
    save_bundle(
        DeployBundle(model=build_model(STUDENT).eval(), config=STUDENT, tile_size=tile_size), path
    )
    return path


def write_scene(path: Path, size: int, block: int = 1024, seed: int = 0) -> Path:
    """Write a size x size RGB GeoTIFF block by block (never the whole scene in memory)."""
    rng = np.random.default_rng(seed)
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:32618",
        "transform": Affine(0.21, 0, 445000, 0, -0.21, 5030000),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "BIGTIFF": "IF_SAFER",
    }
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size, block):
            h = min(block, size - row)
            pixels = rng.integers(0, 256, (3, h, size), dtype=np.uint8)
            dst.write(pixels, window=Window(0, row, size, h))
    return path
