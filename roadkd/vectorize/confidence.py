"""Confidence of road vectors, sampled from the probability raster they came from.

It runs after vectorisation, on the finished layers, so it does not care how (or in how
many blocks) they were made. Every read is a small window around part of one feature:
lines are sampled about once per pixel in runs of ``CHUNK_SAMPLES`` consecutive samples
(a window of at most that many pixels a side), polygons are read in tiles of ``TILE_PX``;
the whole raster is never in memory.

Nodata (and anything off the raster) says nothing: it is left out of every mean, and a
feature with no valid pixel at all gets no confidence (null). A uint8 raster holding values
above 1 (a 0/255 mask, probabilities scaled to 0-255) is divided by 255, as vectorisation
reads it.
"""

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from rasterio.features import geometry_mask
from rasterio.io import DatasetReader
from rasterio.windows import Window, from_bounds
from shapely.geometry.base import BaseGeometry

from ..errors import RoadkdError
from ..ground import pixel_area_m2, planar_pixel_size, planar_steps, step_lengths
from ..io import reading
from ..raster import open_raster
from .result import RoadVectors

#: Length of road (metres) over which ``min_confidence`` takes its lowest mean.
STRETCH_M = 10.0
#: Consecutive line samples read through one window (about one per pixel).
CHUNK_SAMPLES = 512
#: Side of the tiles, in pixels, in which a polygon's pixels are read.
TILE_PX = 1024
#: Decimals kept in the confidence columns.
DECIMALS = 3


@dataclasses.dataclass
class _Probability:
    """An open probability raster and what sampling it needs to know."""

    src: DatasetReader
    step: float  # distance between line samples, in CRS units (one pixel)
    metres_per_unit: float
    largest: float = -math.inf  # largest value sampled, to tell 0-255 from 0-1

    def scale(self) -> float:
        """Divisor that brings the sampled values to [0, 1]."""
        if self.src.dtypes[0] == "uint8" and self.largest > 1:
            return 255.0
        if self.largest > 1 + 1e-6:
            raise RoadkdError(
                f"{self.src.name} holds values up to {self.largest:g}: expected road "
                "probabilities in [0, 1] or a 0/1 mask"
            )
        return 1.0


@contextlib.contextmanager
def _open(path: str | Path) -> Iterator[_Probability]:
    with open_raster(path, "probability raster") as src, reading(path, "probability raster"):
        transform = src.transform
        # a sample per pixel along the shorter side; metres per CRS unit from areas
        step = min(step_lengths(planar_steps(transform)))
        ground = math.sqrt(pixel_area_m2(transform, src.crs, src.shape))
        yield _Probability(src, step, ground / planar_pixel_size(transform))


def _in_raster_crs(frame: gpd.GeoDataFrame, probability: _Probability) -> gpd.GeoSeries:
    geometry = frame.geometry
    if geometry.crs is not None and not geometry.crs.equals(probability.src.crs):
        geometry = geometry.to_crs(probability.src.crs)
    return geometry


def _values_at(probability: _Probability, xy: np.ndarray) -> np.ndarray:
    """Raw raster values at points (NaN for nodata and off the raster), one window."""
    src = probability.src
    cols, rows = ~src.transform @ (xy[:, 0], xy[:, 1])
    rows, cols = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
    inside = (rows >= 0) & (rows < src.height) & (cols >= 0) & (cols < src.width)
    values = np.full(len(xy), np.nan)
    if not inside.any():
        return values
    r0, c0 = rows[inside].min(), cols[inside].min()
    window = Window(c0, r0, cols[inside].max() - c0 + 1, rows[inside].max() - r0 + 1)
    block = src.read(1, window=window, masked=True).astype(np.float64).filled(np.nan)
    values[inside] = block[rows[inside] - r0, cols[inside] - c0]
    return values


def _line_samples(probability: _Probability, line: BaseGeometry) -> tuple[np.ndarray, float]:
    """Raw values about once per pixel along a line, and the sample spacing in metres."""
    length = float(line.length)
    count = max(1, math.ceil(length / probability.step))
    distances = (np.arange(count) + 0.5) * (length / count)
    xy = shapely.get_coordinates(shapely.line_interpolate_point(line, distances))
    values = np.concatenate(
        [
            _values_at(probability, xy[start : start + CHUNK_SAMPLES])
            for start in range(0, len(xy), CHUNK_SAMPLES)
        ]
    )
    if np.isfinite(values).any():
        probability.largest = max(probability.largest, float(np.nanmax(values)))
    return values, length / count * probability.metres_per_unit


def lowest_stretch_mean(values: np.ndarray, window: int) -> float:
    """Lowest mean of ``window`` consecutive values (NaN left out); all of them if fewer.

    Args:
        values: samples along a line, NaN where there is no data.
        window: samples per stretch.

    Returns:
        The lowest stretch mean, NaN if no stretch holds a valid value.
    """
    valid = np.isfinite(values)
    if len(values) <= window:
        return float(values[valid].mean()) if valid.any() else math.nan
    sums = np.concatenate([[0.0], np.cumsum(np.where(valid, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(valid)])
    stretch_sums = sums[window:] - sums[:-window]
    stretch_counts = counts[window:] - counts[:-window]
    seen = stretch_counts > 0
    return float((stretch_sums[seen] / stretch_counts[seen]).min()) if seen.any() else math.nan


def line_confidence(
    lines: gpd.GeoDataFrame, probability: str | Path, stretch_m: float = STRETCH_M
) -> gpd.GeoDataFrame:
    """Add ``confidence`` and ``min_confidence`` to road lines.

    Args:
        lines: LineStrings (or MultiLineStrings) in any CRS (taken as the raster's if none).
        probability: road probability raster (or 0/1 mask) the lines are checked against.
        stretch_m: length of the stretch whose lowest mean is ``min_confidence``.

    Returns:
        A copy of ``lines`` with ``confidence`` (mean probability along the line, sampled
        about once per pixel) and ``min_confidence`` (lowest mean over any ``stretch_m`` of
        it; the whole line if shorter), both in [0, 1], NaN where the line has no data.

    Raises:
        RoadkdError: for a missing or unreadable raster, or one that does not hold
            probabilities.
    """
    out = lines.copy()
    means, lowest = [], []
    with _open(probability) as prob:
        for geometry in _in_raster_crs(lines, prob):
            if geometry is None or geometry.is_empty:
                means.append(math.nan)
                lowest.append(math.nan)
                continue
            samples = [_line_samples(prob, part) for part in shapely.get_parts(geometry)]
            values = np.concatenate([v for v, _ in samples])
            spacing_m = min(s for _, s in samples)
            valid = np.isfinite(values)
            means.append(float(values[valid].mean()) if valid.any() else math.nan)
            window = max(1, round(stretch_m / spacing_m)) if spacing_m > 0 else 1
            lowest.append(min(lowest_stretch_mean(v, window) for v, _ in samples))
        scale = prob.scale()
    out["confidence"] = np.round(np.asarray(means, float) / scale, DECIMALS)
    out["min_confidence"] = np.round(np.asarray(lowest, float) / scale, DECIMALS)
    return out


def _polygon_sum(
    probability: _Probability, polygon: BaseGeometry, all_touched: bool
) -> tuple[float, int]:
    """Sum and count of the valid raw values of the pixels inside a polygon, tile by tile."""
    src = probability.src
    full = Window(0, 0, src.width, src.height)
    try:
        area = from_bounds(*polygon.bounds, transform=src.transform)
        area = area.round_offsets(op="floor").round_lengths(op="ceil")
        area = Window(area.col_off, area.row_off, area.width + 1, area.height + 1)
        area = area.intersection(full)
    except rasterio.errors.WindowError:  # entirely off the raster
        return 0.0, 0
    total, count = 0.0, 0
    for row in range(int(area.row_off), int(area.row_off + area.height), TILE_PX):
        for col in range(int(area.col_off), int(area.col_off + area.width), TILE_PX):
            tile = Window(
                col,
                row,
                min(TILE_PX, int(area.col_off + area.width) - col),
                min(TILE_PX, int(area.row_off + area.height) - row),
            )
            # only the polygon's part over this tile: a scene-wide network stays cheap
            part = shapely.clip_by_rect(polygon, *src.window_bounds(tile))
            if part.is_empty:
                continue
            inside = geometry_mask(
                [part],
                out_shape=(int(tile.height), int(tile.width)),
                transform=src.window_transform(tile),
                invert=True,
                all_touched=all_touched,
            )
            if not inside.any():
                continue
            block = src.read(1, window=tile, masked=True).astype(np.float64).filled(np.nan)
            values = block[inside]
            values = values[np.isfinite(values)]
            if len(values):
                total += float(values.sum())
                count += len(values)
                probability.largest = max(probability.largest, float(values.max()))
    return total, count


def surface_confidence(surface: gpd.GeoDataFrame, probability: str | Path) -> gpd.GeoDataFrame:
    """Add ``confidence`` (mean probability of the pixels inside) to road polygons.

    Args:
        surface: polygons in any CRS (taken as the raster's if none).
        probability: road probability raster (or 0/1 mask).

    Returns:
        A copy of ``surface`` with ``confidence`` in [0, 1] (NaN without valid pixels). A
        polygon too thin to hold a pixel centre is scored on the pixels it touches.

    Raises:
        RoadkdError: for a missing or unreadable raster, or one that does not hold
            probabilities.
    """
    out = surface.copy()
    means = []
    with _open(probability) as prob:
        for geometry in _in_raster_crs(surface, prob):
            if geometry is None or geometry.is_empty:
                means.append(math.nan)
                continue
            total, count = _polygon_sum(prob, geometry, all_touched=False)
            if count == 0:
                total, count = _polygon_sum(prob, geometry, all_touched=True)
            means.append(total / count if count else math.nan)
        scale = prob.scale()
    out["confidence"] = np.round(np.asarray(means, float) / scale, DECIMALS)
    return out


def with_confidence(vectors: RoadVectors, probability: str | Path) -> RoadVectors:
    """The same vectors, with confidence on every centreline and surface polygon.

    Args:
        vectors: the result of vectorising ``probability`` (or any roads over it).
        probability: the road probability raster (or 0/1 mask).

    Returns:
        Vectors whose ``centerlines`` carry ``confidence`` and ``min_confidence`` and whose
        ``surface`` carries ``confidence``; the graph is unchanged.
    """
    return dataclasses.replace(
        vectors,
        centerlines=line_confidence(vectors.centerlines, probability),
        surface=surface_confidence(vectors.surface, probability),
    )
