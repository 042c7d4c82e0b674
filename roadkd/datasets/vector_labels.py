"""Road label rasters (surface with an uncertain band, edge, centreline) from road lines."""

import numpy as np
import shapely
from affine import Affine
from rasterio.features import rasterize
from scipy import ndimage

from ..labels import IGNORE_INDEX


def burn(geometries: np.ndarray, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose centre a geometry covers (lines: a one-pixel, 8-connected trace)."""
    shapes = [(g, 1) for g in geometries if g is not None and not g.is_empty]
    if not shapes:
        return np.zeros(shape, bool)
    burnt: np.ndarray = rasterize(
        shapes, out_shape=shape, transform=transform, fill=0, dtype="uint8"
    )
    return burnt.astype(bool)


def road_masks(
    lines: np.ndarray,
    widths_m: np.ndarray,
    transform: Affine,
    shape: tuple[int, int],
    uncertain_m: float = 1.0,
    units_per_m: float = 1.0,
) -> dict[str, np.ndarray]:
    """Surface, edge and centreline labels of road centrelines on a grid.

    Args:
        lines: shapely LineStrings in the grid's CRS.
        widths_m: carriageway width of each line, in metres.
        transform: affine transform of the grid.
        shape: (height, width) of the grid.
        uncertain_m: width in metres of the ignore band on each side of every surface edge.
        units_per_m: CRS units per ground metre (1 for UTM).

    Returns:
        ``{"surface", "edge", "centerline"}`` uint8 arrays: surface 1 road, 0 background,
        255 unknown (the band); edge and centreline 0/1.
    """
    half = np.asarray(widths_m, float) / 2 * units_per_m
    band = uncertain_m * units_per_m
    nominal = burn(shapely.buffer(lines, half), transform, shape)
    surface = nominal.astype(np.uint8)
    if band > 0:
        outer = burn(shapely.buffer(lines, half + band), transform, shape)
        inner_half = half - band
        wide = inner_half > 0
        core = burn(shapely.buffer(lines[wide], inner_half[wide]), transform, shape)
        surface = np.where(core, 1, np.where(outer, IGNORE_INDEX, 0)).astype(np.uint8)
    edge = nominal & ~ndimage.binary_erosion(nominal, iterations=2, border_value=1)
    return {
        "surface": surface,
        "edge": edge.astype(np.uint8),
        "centerline": burn(lines, transform, shape).astype(np.uint8),
    }
