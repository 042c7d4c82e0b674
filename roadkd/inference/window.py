"""Road probability for one region of a scene, equal to the whole-scene prediction there.

A cluster worker predicts one block of a scene on its own. So that the blocks put together
equal :func:`roadkd.inference.predict.predict_scene`, a region is predicted with the very
tiles of the whole scene's tiling that touch it (the region plus the halo those tiles
reach), each tile read and padded as the whole-scene pass reads and pads it, and the
overlapping predictions blended in the same order.
"""

import numpy as np
import rasterio
from affine import Affine

from ..grid import PixelWindow
from ..imagery import SceneReader
from .backends import Backend
from .predict import PROBABILITY_PROFILE, blend_tiles, check_tiling
from .tiling import read_tiles, tile_origins


def touching(origins: list[int], tile: int, start: int, length: int) -> list[int]:
    """The tile origins whose tiles overlap the pixels ``start .. start + length``."""
    return [o for o in origins if o < start + length and o + tile > start]


def predict_region(
    reader: SceneReader,
    backend: Backend,
    region: PixelWindow,
    tile: int = 512,
    overlap: int = 64,
    batch_size: int = 4,
) -> np.ndarray:
    """Predict road probability for a region of a scene, as the whole-scene pass would.

    Args:
        reader: the open scene (its grid is the model's).
        backend: the model.
        region: its window on the reader's grid.
        tile: tile side in pixels (a multiple of 32).
        overlap: pixels shared by neighbouring tiles.
        batch_size: tiles per forward pass.

    Returns:
        float32 (rows, cols) probability in [0, 1], NaN where the scene has no data.
    """
    check_tiling(tile, overlap)
    row, col, rows, cols = region
    stride = tile - overlap
    tile_rows = touching(tile_origins(reader.height, tile, stride), tile, row, rows)
    tile_cols = touching(tile_origins(reader.width, tile, stride), tile, col, cols)
    top, left = tile_rows[0], tile_cols[0]
    accumulated = np.zeros((tile_rows[-1] + tile - top, tile_cols[-1] + tile - left), np.float32)
    weights = np.zeros_like(accumulated)
    valid = np.zeros((rows, cols), bool)
    for y0 in tile_rows:
        tiles, band_valid, read_left = read_tiles(reader, y0, tile_cols, tile)
        at = [(y0 - top, x0 - left) for x0 in tile_cols]
        blend_tiles(backend, tiles, at, accumulated, weights, batch_size)
        # the band's validity of the region's rows it holds
        first, last = max(y0, row), min(y0 + len(band_valid), row + rows)
        if first < last:
            valid[first - row : last - row] = band_valid[
                first - y0 : last - y0, col - read_left : col - read_left + cols
            ]
    inside = (slice(row - top, row - top + rows), slice(col - left, col - left + cols))
    blended: np.ndarray = accumulated[inside] / weights[inside]
    blended[~valid] = np.nan
    return blended


def write_probability_block(
    path: str, probability: np.ndarray, transform: Affine, crs: object
) -> None:
    """Write a block of probability as a tiled GeoTIFF, as the whole-scene raster is written.

    Args:
        path: the file.
        probability: float32 (rows, cols).
        transform: the block's own transform (its top-left corner).
        crs: the scene's CRS.
    """
    rows, cols = probability.shape
    profile = {**PROBABILITY_PROFILE, "width": cols, "height": rows}
    with rasterio.open(path, "w", crs=crs, transform=transform, **profile) as dst:
        dst.write(probability[None])
