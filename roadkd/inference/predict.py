"""Streamed whole-scene prediction into a probability GeoTIFF on the model's grid.

The scene is read through :class:`roadkd.imagery.SceneReader`: resampled to the model's
metres per pixel, reprojected from degrees to UTM, scaled to 0-255 and its bands picked, so
the probability raster keeps the scene's CRS (UTM for a geographic scene) and extent at the
model's resolution.

The scene is processed in horizontal bands of tiles. Overlapping tile predictions are
blended with a smooth window; rows are written as soon as no later tile can touch them, so
memory holds one band of tiles (plus the next band being read ahead), whatever the scene size.
"""

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import torch
from rasterio.windows import Window
from tqdm import tqdm

from ..errors import RoadkdError
from ..imagery import Log, ReadOptions, ScenePlan, SceneReader
from ..io import atomic_output
from .backends import Backend
from .tiling import blend_window, pad_to, tile_origins

#: Tile sides must be multiples of the networks' output stride.
TILE_MULTIPLE = 32

PROBABILITY_PROFILE: dict[str, Any] = {
    "driver": "GTiff",
    "dtype": "float32",
    "count": 1,
    "nodata": float("nan"),
    "tiled": True,
    "blockxsize": 256,
    "blockysize": 256,
    "compress": "deflate",
    "predictor": 3,
    "BIGTIFF": "IF_SAFER",
}


@dataclass
class SceneSummary:
    """What a prediction covered."""

    scene: Path
    probability: Path
    width: int
    height: int
    area_km2: float
    seconds: float
    plan: ScenePlan | None = None


def check_scene(
    path: str | Path,
    backend: Backend,
    options: ReadOptions | None = None,
    log: Log | None = None,
) -> ScenePlan:
    """Check that a scene can be read for a model, before any work starts.

    Args:
        path: raster file (GeoTIFF, VRT, anything GDAL reads).
        backend: the model (its bands and resolution).
        options: the user's choices of bands, scaling and resolution.
        log: receives the one-line description of how the scene will be read, and warnings.

    Returns:
        How the scene will be read (bands, scaling, grid).

    Raises:
        RoadkdError: with the reason, if the scene cannot be used (no CRS, too few bands,
            a resolution more than 8x from the model's, ...).
    """
    with SceneReader(
        path,
        backend.in_channels,
        backend.resolution_m,
        options,
        log,
        training_percentiles=backend.input_percentiles,
    ) as reader:
        return reader.plan


def check_tiling(tile: int, overlap: int) -> None:
    """Validate tile size and overlap.

    Raises:
        RoadkdError: if the tile is not a positive multiple of 32 or the overlap is not
            smaller than the tile.
    """
    if tile <= 0 or tile % TILE_MULTIPLE:
        raise RoadkdError(f"--tile must be a positive multiple of {TILE_MULTIPLE}, got {tile}")
    if not 0 <= overlap < tile:
        raise RoadkdError(f"--overlap must be in [0, tile), got {overlap}")


def default_overlap(tile: int) -> int:
    """Overlap used when none is given: an eighth of the tile (64 px for 512 px tiles)."""
    return tile // 8


def _batches(tiles: list[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    for i in range(0, len(tiles), batch_size):
        yield np.stack(tiles[i : i + batch_size])


def predict_scene(
    scene: str | Path,
    backend: Backend,
    out: str | Path,
    tile: int = 512,
    overlap: int = 64,
    batch_size: int = 4,
    progress: bool = False,
    options: ReadOptions | None = None,
    log: Log | None = None,
    plan: ScenePlan | None = None,
    on_rows: Callable[[int, np.ndarray], None] | None = None,
) -> SceneSummary:
    """Predict road probability for a whole scene, streamed band by band.

    Args:
        scene: input raster, read through :class:`roadkd.imagery.SceneReader`.
        backend: the model.
        out: probability GeoTIFF to write (float32 in [0, 1], nodata NaN) in the scene's CRS
            (UTM for a geographic scene) and extent at the model's resolution.
        tile: tile side in pixels (a multiple of 32).
        overlap: pixels shared by neighbouring tiles.
        batch_size: tiles per forward pass.
        progress: show a progress bar on stderr.
        options: the user's choices of bands, scaling and resolution.
        log: receives the one-line description of how the scene is read, and warnings.
        plan: the scene's plan from :func:`check_scene` (then ``options`` is not looked at
            again and nothing is logged twice).
        on_rows: called with (first row, final probability rows) as each band is
            written, top to bottom, so that a consumer (vectorisation) can start before
            the scene is finished.

    Returns:
        A summary of the work.

    Raises:
        RoadkdError: for unusable inputs or outputs.
    """
    check_tiling(tile, overlap)
    start = time.perf_counter()
    stride = tile - overlap
    window = blend_window(tile)
    pin = backend.device.type == "cuda"
    reader = SceneReader(
        scene,
        backend.in_channels,
        backend.resolution_m,
        options,
        log,
        plan,
        training_percentiles=backend.input_percentiles,
    )
    with reader as src, atomic_output(out) as tmp:
        height, width = src.height, src.width
        rows, cols = tile_origins(height, tile, stride), tile_origins(width, tile, stride)
        padded_width = cols[-1] + tile
        profile = {**PROBABILITY_PROFILE, "width": width, "height": height}
        profile.update(crs=src.crs, transform=src.transform)

        def read_band(y0: int) -> tuple[np.ndarray, np.ndarray]:
            h = min(tile, height - y0)
            pixels, valid = src.read(Window(0, y0, width, h))
            return pad_to(pixels, tile, padded_width), valid

        with (
            rasterio.open(tmp, "w", **profile) as dst,
            ThreadPoolExecutor(max_workers=1) as prefetch,
            tqdm(total=len(rows) * len(cols), unit="tile", disable=not progress) as bar,
        ):
            accumulated = np.zeros((tile, padded_width), np.float32)
            weights = np.zeros((tile, padded_width), np.float32)
            pending = prefetch.submit(read_band, rows[0])
            for k, y0 in enumerate(rows):
                pixels, valid = pending.result()
                if k + 1 < len(rows):  # read the next band while the model runs
                    pending = prefetch.submit(read_band, rows[k + 1])
                tiles = [pixels[:, :, x0 : x0 + tile] for x0 in cols]
                probs: list[np.ndarray] = []
                for batch in _batches(tiles, batch_size):
                    tensor = torch.from_numpy(batch)
                    if pin:
                        tensor = tensor.pin_memory()
                    probs.extend(backend.predict(tensor).float().cpu().numpy())
                    bar.update(len(batch))
                for x0, prob in zip(cols, probs, strict=True):
                    accumulated[:, x0 : x0 + tile] += prob * window
                    weights[:, x0 : x0 + tile] += window
                # Rows above the next band's start are final: write them, then slide.
                done = min(stride if k + 1 < len(rows) else tile, height - y0)
                blended = accumulated[:done, :width] / weights[:done, :width]
                blended[~valid[:done]] = np.nan
                dst.write(blended[None], window=Window(0, y0, width, done))
                if on_rows is not None:
                    on_rows(y0, blended)
                accumulated = np.roll(accumulated, -stride, axis=0)
                weights = np.roll(weights, -stride, axis=0)
                accumulated[-stride:] = 0
                weights[-stride:] = 0
    plan = reader.plan
    seconds = time.perf_counter() - start
    return SceneSummary(plan.path, Path(out), width, height, plan.area_km2, seconds, plan)
