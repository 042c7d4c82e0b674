"""Tile layout, tile reading and blending windows for seamless whole-scene inference."""

import numpy as np
from rasterio.windows import Window

from ..imagery import SceneReader


def blend_window(size: int) -> np.ndarray:
    """A 2-D squared-sine (Hann) window that fades to nearly 0 at the tile borders.

    Predictions near a tile's border see padded context and are the least reliable; the
    window lets the neighbouring tile's centre dominate there, so no seam remains. It never
    reaches exactly 0, so a pixel covered by a single tile keeps its prediction.

    Args:
        size: tile side in pixels.

    Returns:
        (size, size) float32 weights in (0, 1].
    """
    ramp = np.sin(np.pi * (np.arange(size) + 0.5) / size) ** 2
    return np.outer(ramp, ramp).astype(np.float32)


def tile_origins(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets of tiles covering ``length`` pixels with the given stride.

    Args:
        length: image side in pixels.
        tile: tile side in pixels.
        stride: distance between tile starts (tile minus overlap).

    Returns:
        Offsets 0, stride, 2 * stride, ... until a tile reaches the end.
    """
    origins = [0]
    while origins[-1] + tile < length:
        origins.append(origins[-1] + stride)
    return origins


def pad_to(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad a (C, h, w) array at the bottom/right to (C, height, width) by reflection.

    Reflection keeps road texture continuous at scene borders, where zeros would look like
    a dark object to the network.
    """
    _, h, w = array.shape
    if h == height and w == width:
        return array
    mode = "reflect" if h > 1 and w > 1 else "edge"
    padded: np.ndarray = np.pad(array, ((0, 0), (0, height - h), (0, width - w)), mode=mode)  # type: ignore[call-overload]
    return padded


def _read_columns(first: int, end: int, width: int) -> tuple[int, int]:
    """Columns to read for tiles spanning ``first .. end`` (padded) of a ``width`` scene.

    Past the scene's right edge tiles are padded by reflecting the band; the columns read
    reach far enough left for the same reflection as if the whole band had been read.
    """
    right = min(end, width)
    pad = end - right
    if pad == 0:
        return first, right
    return (min(first, width - 1 - pad) if pad <= width - 1 else 0), right


def read_tiles(
    reader: SceneReader, y0: int, origins: list[int], tile: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Read the tiles at row ``y0`` and consecutive column ``origins`` of a scene's tiling.

    Only the columns under these tiles are read, yet each tile holds exactly the pixels it
    would hold if the whole band of the scene had been read and padded, so a prediction
    does not depend on which tiles were read together (memory is bounded by the tiles,
    not by the scene's width).

    Args:
        reader: the open scene.
        y0: first row of the tiles.
        origins: first columns of the tiles, increasing.
        tile: tile side in pixels.

    Returns:
        float32 (tiles, bands, tile, tile) pixels, the (rows, columns) valid mask of the
        scene's pixels that were read, and the first column read.
    """
    rows = min(tile, reader.height - y0)
    end = origins[-1] + tile
    left, right = _read_columns(origins[0], end, reader.width)
    pixels, valid = reader.read(Window(left, y0, right - left, rows))
    padded = pad_to(pixels, tile, end - left)
    tiles = np.stack([padded[:, :, x0 - left : x0 - left + tile] for x0 in origins])
    return tiles, valid, left
