"""Streamed whole-scene prediction into a probability GeoTIFF on the model's grid.

The scene is read through :class:`roadkd.imagery.SceneReader`: resampled to the model's
metres per pixel, reprojected from degrees to UTM, scaled to 0-255 and its bands picked, so
the probability raster keeps the scene's CRS (UTM for a geographic scene) and extent at the
model's resolution.

The scene is processed in horizontal bands of tiles, each band read a few tiles at a time
(the next few read ahead while the model runs). Overlapping tile predictions are blended
with a smooth window; rows are written as soon as no later tile can touch them, so memory
holds the blended rows of one band and a few tiles, whatever the scene size.
"""

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import torch
from rasterio.windows import Window

from ..errors import RoadkdError
from ..imagery import Log, ReadOptions, ScenePlan, SceneReader
from ..io import atomic_output
from ..progress import Progress, as_progress
from .backends import Backend
from .tiling import blend_window, read_tiles, tile_origins

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
        backend.data.resolution_m,
        options,
        log,
        training_percentiles=backend.data.input_percentiles,
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


@dataclass(frozen=True)
class Tiling:
    """How a scene is cut into tiles for the model.

    Attributes:
        tile: tile side in pixels (a multiple of 32).
        overlap: pixels shared by neighbouring tiles.
        batch_size: tiles per forward pass.
    """

    tile: int
    overlap: int
    batch_size: int = 4

    @classmethod
    def choose(
        cls, backend: Backend, tile: int | None, overlap: int | None, batch_size: int = 4
    ) -> "Tiling":
        """The tiling asked for, with the model's tile and an eighth of it as defaults.

        Raises:
            RoadkdError: for a tile that is not a positive multiple of 32, an overlap not
                smaller than the tile, or a batch size below one.
        """
        tile = tile or backend.data.tile_size
        overlap = default_overlap(tile) if overlap is None else overlap
        check_tiling(tile, overlap)
        if batch_size < 1:
            raise RoadkdError(f"--batch-size must be at least 1, got {batch_size}")
        return cls(tile, overlap, batch_size)


#: Tiles read at a time along a band: bounds memory by the tiles, not the scene's width.
TILES_PER_READ = 8


def blend_tiles(
    backend: Backend,
    tiles: np.ndarray,
    at: list[tuple[int, int]],
    accumulated: np.ndarray,
    weights: np.ndarray,
    batch_size: int,
    on_batch: Callable[[int], object] | None = None,
) -> None:
    """Predict tiles in batches and add them, weighted by the blending window, in place.

    Args:
        backend: the model.
        tiles: float32 (tiles, bands, tile, tile) pixels.
        at: (row, column) of each tile in ``accumulated``.
        accumulated: sum of weighted probabilities, updated in place.
        weights: sum of the windows, updated in place.
        batch_size: tiles per forward pass.
        on_batch: called with the number of tiles of each batch done (progress).
    """
    tile = tiles.shape[-1]
    window = blend_window(tile)
    pin = backend.device.type == "cuda"
    for i in range(0, len(tiles), batch_size):
        batch = torch.from_numpy(tiles[i : i + batch_size])
        if pin:
            batch = batch.pin_memory()
        probs = backend.predict(batch).float().cpu().numpy()
        for (y, x), prob in zip(at[i : i + batch_size], probs, strict=True):
            accumulated[y : y + tile, x : x + tile] += prob * window
            weights[y : y + tile, x : x + tile] += window
        if on_batch is not None:
            on_batch(len(probs))


class BlockRowWriter:
    """Writes rows of a raster in order, whole rows of its blocks at a time.

    A window that ends inside a row of compressed blocks leaves those blocks half written in
    GDAL's cache; once the cache is full they are compressed, read back and rewritten (the
    file grows with every rewrite). Rows are held here until they complete a row of blocks,
    so each block is written once, whatever the cache size and the scene's width.
    """

    def __init__(self, dst: rasterio.io.DatasetWriter) -> None:
        """Write into ``dst`` (one band), whose blocks all have the same height."""
        self.dst = dst
        self.block_rows = dst.block_shapes[0][0]
        self.held = np.zeros((0, dst.width), np.float32)
        self.top = 0  # first row of ``held``

    def write(self, row: int, values: np.ndarray) -> None:
        """Take ``values`` for the rows from ``row`` on (the rows after the last ones taken).

        Raises:
            ValueError: if rows arrive out of order.
        """
        if row != self.top + len(self.held):
            raise ValueError(f"rows must arrive in order: expected {self.top + len(self.held)}")
        rows = np.concatenate([self.held, values]) if len(self.held) else values
        end = self.top + len(rows)
        complete = end if end == self.dst.height else end - end % self.block_rows
        if complete > self.top:
            count = complete - self.top
            self.dst.write(rows[None, :count], window=Window(0, self.top, self.dst.width, count))
            rows, self.top = rows[count:], complete
        self.held = rows.copy()


def predict_scene(
    scene: str | Path,
    backend: Backend,
    out: str | Path,
    tile: int = 512,
    overlap: int = 64,
    batch_size: int = 4,
    progress: bool | Progress = False,
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
        progress: report tiles done (True: a bar on stderr; see :mod:`roadkd.progress`).
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
    reader = SceneReader(
        scene,
        backend.in_channels,
        backend.data.resolution_m,
        options,
        log,
        plan,
        training_percentiles=backend.data.input_percentiles,
    )
    with reader as src, atomic_output(out) as tmp:
        height, width = src.height, src.width
        rows, cols = tile_origins(height, tile, stride), tile_origins(width, tile, stride)
        # a multiple of the batch size, so that batches are as full as reading whole bands
        per_read = batch_size * -(-TILES_PER_READ // batch_size)
        reads = [(y0, cols[i : i + per_read]) for y0 in rows for i in range(0, len(cols), per_read)]
        profile = {**PROBABILITY_PROFILE, "width": width, "height": height}
        profile.update(crs=src.crs, transform=src.transform)
        with (
            rasterio.open(tmp, "w", **profile) as dst,
            ThreadPoolExecutor(max_workers=1) as prefetch,
            as_progress(progress).counter("predict", len(rows) * len(cols), "tile") as bar,
        ):
            writer = BlockRowWriter(dst)
            padded_width = cols[-1] + tile
            accumulated = np.zeros((tile, padded_width), np.float32)
            weights = np.zeros((tile, padded_width), np.float32)
            valid = np.zeros((tile, width), bool)
            pending = prefetch.submit(read_tiles, src, *reads[0], tile)
            for k, (y0, origins) in enumerate(reads):
                tiles, read_valid, left = pending.result()
                if k + 1 < len(reads):  # read the next tiles while the model runs
                    pending = prefetch.submit(read_tiles, src, *reads[k + 1], tile)
                at = [(0, x0) for x0 in origins]
                blend_tiles(backend, tiles, at, accumulated, weights, batch_size, bar.update)
                valid[: len(read_valid), left : left + read_valid.shape[1]] = read_valid
                if origins[-1] != cols[-1]:
                    continue
                # The band is complete. Rows above the next band's start are final: write
                # them, then slide the rows the next band shares up to the top.
                done = min(stride if y0 != rows[-1] else tile, height - y0)
                blended = accumulated[:done, :width] / weights[:done, :width]
                blended[~valid[:done]] = np.nan
                writer.write(y0, blended)
                if on_rows is not None:
                    on_rows(y0, blended)
                for array in (accumulated, weights):
                    array[:overlap] = array[stride:]
                    array[overlap:] = 0
                valid[:] = False
    plan = reader.plan
    seconds = time.perf_counter() - start
    return SceneSummary(plan.path, Path(out), width, height, plan.area_km2, seconds, plan)
