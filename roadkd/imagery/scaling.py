"""Pixel scaling: a scene's 2-98 % band percentiles and the stretch onto the model's.

Training records the percentiles of its imagery (:class:`BandPercentiles`, in the
network's 0-255 input units); a 16-bit or float scene is stretched onto them on read.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.enums import Resampling
from rasterio.io import DatasetReader

from ..errors import RoadkdError
from ..io import reading
from ..raster import open_raster

#: Percentiles of the default stretch of non-uint8 imagery (and recorded from training data).
STRETCH_PERCENTILES = (2.0, 98.0)
#: Most pixels per band the percentiles are computed from (decimated reads, whatever the size).
STATS_PIXELS = 1024 * 1024


@dataclass(frozen=True)
class BandPercentiles:
    """Per-band 2 and 98 percentiles (:data:`STRETCH_PERCENTILES`) of imagery's valid pixels.

    A model records those of its training imagery in its input units (the 0-255 pixels the
    network sees before /255 and mean/std), so that other imagery can be stretched onto them.

    Attributes:
        low: per-band 2nd percentile.
        high: per-band 98th percentile, above ``low`` (a flat band gets ``low + 1``).
    """

    low: tuple[float, ...]
    high: tuple[float, ...]

    def __post_init__(self) -> None:
        """Refuse percentiles that cannot be true.

        Raises:
            RoadkdError: for no band, mismatched lengths, a non-finite value or high <= low.
        """
        if not self.low or len(self.low) != len(self.high):
            raise RoadkdError(f"percentiles {self.low} and {self.high} need one value per band")
        pairs = zip(self.low, self.high, strict=True)
        if not all(math.isfinite(lo) and math.isfinite(hi) and hi > lo for lo, hi in pairs):
            raise RoadkdError(f"percentiles need finite low < high, got {self.low} {self.high}")

    def ranges(self) -> str:
        """The per-band ranges as text, e.g. ``"40-220, 32-176"``."""
        return ", ".join(f"{lo:.4g}-{hi:.4g}" for lo, hi in zip(self.low, self.high, strict=True))

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready form, naming which percentiles these are."""
        return {
            "percentiles": list(STRETCH_PERCENTILES),
            "low": list(self.low),
            "high": list(self.high),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BandPercentiles":
        """Read :meth:`to_dict` output.

        Raises:
            RoadkdError, TypeError, ValueError: for a malformed or foreign entry (e.g. other
                percentiles than :data:`STRETCH_PERCENTILES`).
        """
        if not isinstance(data, Mapping) or not {"percentiles", "low", "high"} <= data.keys():
            raise ValueError(f"input percentiles {data!r} lack percentiles, low or high")
        if tuple(float(p) for p in data["percentiles"]) != STRETCH_PERCENTILES:
            raise ValueError(f"percentiles {data['percentiles']} are not {STRETCH_PERCENTILES}")
        return cls(tuple(float(v) for v in data["low"]), tuple(float(v) for v in data["high"]))


def stats_step(pixels: int) -> float:
    """Decimation step (1 of step x step pixels) that keeps ~:data:`STATS_PIXELS` of ``pixels``."""
    return max(1.0, math.sqrt(pixels / STATS_PIXELS))


def decimated_values(src: DatasetReader, bands: tuple[int, ...], step: float) -> list[np.ndarray]:
    """Valid, finite values of each band from a nearest-decimated read of a scene.

    GDAL uses the file's overviews when it has them.

    Args:
        src: the open scene.
        bands: 1-based bands to read.
        step: decimation (see :func:`stats_step`).

    Returns:
        One float64 array per band (nodata and non-finite pixels left out).
    """
    shape = (len(bands), max(1, round(src.height / step)), max(1, round(src.width / step)))
    sample = src.read(list(bands), out_shape=shape, masked=True, resampling=Resampling.nearest)
    values = []
    for band in sample:
        pixels = band.compressed().astype(np.float64)
        values.append(pixels[np.isfinite(pixels)])
    return values


def percentiles_of(values: Sequence[np.ndarray], what: str) -> BandPercentiles:
    """Per-band :data:`STRETCH_PERCENTILES` of sampled values.

    Args:
        values: one array of values per band.
        what: the imagery they come from, for the message.

    Returns:
        The percentiles; a flat band gets high = low + 1.

    Raises:
        RoadkdError: if a band has no value.
    """
    lows, highs = [], []
    for band in values:
        if band.size == 0:
            raise RoadkdError(f"{what} holds no valid pixel (all nodata)")
        low, high = np.percentile(band, STRETCH_PERCENTILES)
        lows.append(float(low))
        highs.append(float(high) if high > low else float(low) + 1.0)
    return BandPercentiles(tuple(lows), tuple(highs))


def band_percentiles(src: DatasetReader, bands: tuple[int, ...]) -> BandPercentiles:
    """Per-band 2 and 98 percentiles of a scene's valid pixels, from a decimated read.

    Raises:
        RoadkdError: if the scene holds no valid pixel.
    """
    step = stats_step(src.width * src.height)
    return percentiles_of(decimated_values(src, bands, step), Path(src.name).name)


def pooled_band_percentiles(
    paths: Sequence[Path], bands: tuple[int, ...], what: str
) -> BandPercentiles:
    """Per-band 2 and 98 percentiles of several rasters' valid pixels, pooled.

    Every raster is read with the same decimation, so each counts by its area, and all
    together give about :data:`STATS_PIXELS` values per band whatever their number and size;
    one file is open at a time.

    Args:
        paths: the rasters.
        bands: 1-based bands to measure in each.
        what: how to name the rasters together in messages.

    Returns:
        The percentiles.

    Raises:
        RoadkdError: if there is no raster, one cannot be read or has too few bands, or
            they hold no valid pixel.
    """
    if not paths:
        raise RoadkdError(f"{what}: no raster to measure")
    pixels = 0
    for path in paths:
        with reading(path, "image"), open_raster(path, "image", georeferenced=False) as src:
            if src.count < max(bands):
                raise RoadkdError(f"{path} has {src.count} band(s), {max(bands)} are needed")
            pixels += src.width * src.height
    step = stats_step(pixels)
    pooled: list[list[np.ndarray]] = [[] for _ in bands]
    for path in paths:
        with reading(path, "image"), open_raster(path, "image", georeferenced=False) as src:
            for parts, values in zip(pooled, decimated_values(src, bands, step), strict=True):
                parts.append(values)
    return percentiles_of([np.concatenate(parts) for parts in pooled], what)


def stretch_onto(
    scene: BandPercentiles, target: BandPercentiles
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The per-band linear map taking a scene's percentiles onto a target's, as 0 and 255.

    Args:
        scene: the scene's percentiles, in its own units.
        target: the percentiles they should become, in 0-255 model input units.

    Returns:
        (lows, highs): per band, the scene values the map takes to 0 and to 255.

    Raises:
        RoadkdError: if the two do not have the same number of bands.
    """
    if len(scene.low) != len(target.low):
        raise RoadkdError(
            f"the model records percentiles of {len(target.low)} band(s), "
            f"the scene gives {len(scene.low)}"
        )
    lows, highs = [], []
    for s_lo, s_hi, t_lo, t_hi in zip(scene.low, scene.high, target.low, target.high, strict=True):
        per_model_unit = (s_hi - s_lo) / (t_hi - t_lo)
        lows.append(s_lo - t_lo * per_model_unit)
        highs.append(s_lo + (255.0 - t_lo) * per_model_unit)
    return tuple(lows), tuple(highs)
