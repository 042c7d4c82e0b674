"""Probability and mask rasters as the vectoriser reads them: checked once, read by window."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from ..errors import RoadkdError
from ..grid import PixelWindow
from ..io import reading
from ..raster import open_raster


@dataclass(frozen=True)
class RoadRaster:
    """A probability or mask raster, checked once and then read window by window.

    Attributes:
        path: the raster file.
        height: rows.
        width: columns.
        transform: its affine transform.
        crs: its CRS.
        scale: factor to [0, 1] (1/255 for a 0/255 mask or 0-255 probabilities).
    """

    path: Path
    height: int
    width: int
    transform: Affine
    crs: CRS
    scale: float


#: Pixels read at a time while a uint8 raster is scanned for values above 1.
_SCAN_PIXELS = 1 << 24


def open_road_raster(path: str | Path) -> RoadRaster:
    """Check a probability or mask raster (band 1) without reading it whole.

    A uint8 raster with values above 1 (a 0/255 mask, or probabilities scaled to 0-255)
    is divided by 255; finding out reads it once, a strip at a time. Other rasters must
    already hold values in [0, 1] (checked as each window is read).

    Raises:
        RoadkdError: if the file is missing, unreadable or has no CRS.
    """
    with open_raster(path) as src, reading(path):
        scale = 1.0
        if src.dtypes[0] == "uint8":
            strip = max(1, _SCAN_PIXELS // src.width)
            for row in range(0, src.height, strip):
                window = Window(0, row, src.width, min(strip, src.height - row))
                band = src.read(1, window=window, masked=True)
                if band.count() and band.max() > 1:
                    scale = 1 / 255
                    break
        return RoadRaster(Path(path), src.height, src.width, src.transform, src.crs, scale)


def read_road_window(raster: RoadRaster, window: PixelWindow) -> np.ndarray:
    """Read a window of band 1 as float32 in [0, 1], nodata as NaN.

    Raises:
        RoadkdError: if the window cannot be read or holds values that are neither
            probabilities nor a 0/1 mask.
    """
    with open_raster(raster.path) as src, reading(raster.path):
        band = src.read(1, window=window.to_rasterio(), masked=True)
    data: np.ndarray = band.astype(np.float32).filled(np.nan)
    if band.count() == 0:
        return data
    if raster.scale != 1.0:
        data *= np.float32(raster.scale)
        return data
    low, high = float(band.min()), float(band.max())
    if low < 0 or high > 1 + 1e-6:
        raise RoadkdError(
            f"{raster.path} holds values from {low:g} to {high:g}: expected road probabilities "
            "in [0, 1] or a 0/1 mask"
        )
    return data


def read_road_raster(path: str | Path) -> tuple[np.ndarray, Affine, CRS]:
    """Read band 1 of a small probability or mask raster whole (see ``open_road_raster``).

    ``roadkd.vectorize.vectorize_raster`` never does this: it reads blocks.

    Args:
        path: raster file (GeoTIFF or anything GDAL reads).

    Returns:
        (values as float32 in [0, 1] with NaN for nodata, transform, CRS).

    Raises:
        RoadkdError: if the file is missing, unreadable, has no CRS or holds values that
            are neither probabilities nor a 0/1 mask.
    """
    raster = open_road_raster(path)
    values = read_road_window(raster, PixelWindow(0, 0, raster.height, raster.width))
    return values, raster.transform, raster.crs


Source = tuple["str | Path | RoadRaster", PixelWindow]
"""A raster placed on a grid: the raster (a path, or one checked already) and its window."""


def read_sources(window: PixelWindow, sources: list[Source]) -> np.ndarray:
    """Read a window of a grid from the rasters placed on it (NaN where none is).

    Raises:
        RoadkdError: if a raster cannot be read or holds no probabilities.
    """
    values = np.full((window.rows, window.cols), np.nan, np.float32)
    for raster, where in sources:
        place = PixelWindow(*where)  # a plain tuple, after a trip through Dask
        part = window.intersection(place)
        if part is not None:
            opened = raster if isinstance(raster, RoadRaster) else open_road_raster(raster)
            read = read_road_window(opened, part.shifted(-place.row, -place.col))
            values[part.shifted(-window.row, -window.col).slices] = read
    return values
