"""Tile layout and blending windows for seamless whole-scene inference."""

import numpy as np


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
