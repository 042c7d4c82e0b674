"""Shared set-up for the benchmark scripts (not a test: they print, they never assert)."""

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from roadkd.models import DeployBundle, ModelConfig, build_model, save_bundle

STUDENT = ModelConfig(arch="DeepLabV3Plus", encoder="mobilenet_v2")
#: The synthetic scenes' grid: 0.21 m pixels in UTM 18N near Ottawa.
TRANSFORM = Affine(0.21, 0, 445000, 0, -0.21, 5030000)
CRS = "EPSG:32618"


def best_of(repeat: int, run: Callable[[], object]) -> float:
    """Fastest of ``repeat`` runs, in seconds (the least disturbed by other processes)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def soft_probability(surface: np.ndarray, seed: int = 1) -> np.ndarray:
    """A road probability map from a surface mask: 0.9 on road, 0.1 elsewhere, with noise."""
    noise = np.random.default_rng(seed).normal(0, 0.05, surface.shape)
    return np.clip(0.1 + 0.8 * surface + noise, 0, 1).astype(np.float32)


def write_student(path: Path, tile_size: int = 512) -> Path:
    """Save a randomly initialised default student (speed does not depend on training)."""
    save_bundle(
        DeployBundle(model=build_model(STUDENT).eval(), config=STUDENT, tile_size=tile_size), path
    )
    return path


def write_scene(path: Path, size: int, block: int = 1024, seed: int = 0) -> Path:
    """Write a size x size RGB GeoTIFF block by block (never the whole scene in memory)."""
    rng = np.random.default_rng(seed)
    with rasterio.open(path, "w", **tiled_profile(size, 3, "uint8")) as dst:
        for row in range(0, size, block):
            h = min(block, size - row)
            pixels = rng.integers(0, 256, (3, h, size), dtype=np.uint8)
            dst.write(pixels, window=Window(0, row, size, h))
    return path


def tiled_profile(size: int, count: int, dtype: str) -> dict[str, Any]:
    """A tiled, compressed GeoTIFF profile for a size x size scene on the synthetic grid."""
    return {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": count,
        "dtype": dtype,
        "crs": CRS,
        "transform": TRANSFORM,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "BIGTIFF": "IF_SAFER",
    }


def write_repeated(path: Path, size: int, strip: np.ndarray) -> Path:
    """Write a size x size GeoTIFF by repeating a (bands, rows, size) strip down the scene."""
    rows = strip.shape[1]
    with rasterio.open(path, "w", **tiled_profile(size, strip.shape[0], str(strip.dtype))) as dst:
        for row in range(0, size, rows):
            height = min(rows, size - row)
            dst.write(strip[:, :height], window=Window(0, row, size, height))
    return path


def synthetic_probability(description: str) -> tuple[argparse.Namespace, Any, np.ndarray]:
    """Parse ``--size``/``--repeat`` and make a synthetic scene and its soft probability map.

    Returns:
        The arguments, the scene (labels included) and its probability map.
    """
    from roadkd.datasets.synthetic import generate_scene

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    scene = generate_scene(args.size, np.random.default_rng(0))
    return args, scene, soft_probability(scene.surface)
