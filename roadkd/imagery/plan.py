"""Deciding how a scene is read for a model: bands, scaling and the output grid."""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, Resampling
from rasterio.io import DatasetReader
from rasterio.warp import transform_bounds

from ..errors import RoadkdError
from ..ground import area_km2, ground_resolution_m, planar_pixel_size
from ..io import reading

#: A scene whose resolution is within this share of the model's is read as it is.
SAME_RESOLUTION_TOLERANCE = 0.01
#: A scene this many times coarser than the model gets a warning.
WARN_COARSER = 2.0
#: A scene this many times coarser or finer than the model is refused (unless asked).
REFUSE_FACTOR = 8.0
#: Percentiles of the default stretch of non-uint8 imagery (and recorded from training data).
STRETCH_PERCENTILES = (2.0, 98.0)
#: Most pixels per band the percentiles are computed from (decimated reads, whatever the size).
STATS_PIXELS = 1024 * 1024

RGB = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)

Log = Callable[[str], None]


@dataclass(frozen=True)
class ReadOptions:
    """How a user asked for a scene to be read (all optional).

    Attributes:
        bands: 1-based band numbers to feed the model, in order (None: R, G, B by colour
            interpretation, else the first bands).
        scale: (low, high) input values mapped to 0 and 255 for every band (None: uint8 as
            it is, anything else by a per-band 2-98 % percentile stretch onto the model's
            training range, see :func:`plan_scene`).
        native_resolution: read the scene at its own resolution (geographic CRSs are still
            reprojected to UTM, at the scene's own metres per pixel).
        any_resolution: accept scenes more than 8x coarser or finer than the model.
    """

    bands: tuple[int, ...] | None = None
    scale: tuple[float, float] | None = None
    native_resolution: bool = False
    any_resolution: bool = False


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


@dataclass(frozen=True)
class ScenePlan:
    """What the reader does with one scene; every field is decided before any pixel is read.

    Attributes:
        path: the scene.
        bands: 1-based band numbers read, in model order.
        band_names: colour interpretation of those bands.
        band_choice: how the bands were chosen.
        dtype: the scene's data type.
        low: per-band input value mapped to 0 (None: pixels used as they are).
        high: per-band input value mapped to 255 (None: pixels used as they are).
        scale_choice: how the scaling was chosen.
        source_crs: the scene's CRS.
        source_resolution_m: the scene's metres per pixel.
        area_km2: the ground area of the scene's grid.
        crs: CRS of the grid the model sees (the scene's, or UTM for degrees).
        transform: transform of that grid.
        width: columns of that grid.
        height: rows of that grid.
        resolution_m: metres per pixel of that grid.
        resampling: how pixels are resampled (None: read on the scene's own grid).
        warnings: what the user should know (e.g. much coarser than the model).
        scene_percentiles: the scene's own percentiles when it is stretched by them.
        target_percentiles: the model's training percentiles they are mapped onto (None
            with ``scene_percentiles``: onto 0-255).
    """

    path: Path
    bands: tuple[int, ...]
    band_names: tuple[str, ...]
    band_choice: str
    dtype: str
    low: tuple[float, ...] | None
    high: tuple[float, ...] | None
    scale_choice: str
    source_crs: CRS
    source_resolution_m: float
    area_km2: float
    crs: CRS
    transform: Affine
    width: int
    height: int
    resolution_m: float
    resampling: Resampling | None
    warnings: tuple[str, ...] = ()
    scene_percentiles: BandPercentiles | None = None
    target_percentiles: BandPercentiles | None = None

    @property
    def reprojected(self) -> bool:
        """Whether the grid is in another CRS than the scene (degrees -> UTM)."""
        return bool(self.crs != self.source_crs)

    def describe(self) -> str:
        """One line saying which bands, scaling and resampling were chosen."""
        names = ", ".join(self.band_names)
        bands = f"bands {','.join(map(str, self.bands))} ({names}; {self.band_choice})"
        if self.low is None or self.high is None:
            scaling = f"{self.dtype} used as is"
        elif self.scene_percentiles is not None:
            target = self.target_percentiles
            into = "0-255" if target is None else target.ranges()
            scaling = (
                f"{self.dtype} 2-98 % {self.scene_percentiles.ranges()} -> {into} "
                f"({self.scale_choice})"
            )
        else:
            ranges = ", ".join(f"{lo:g}-{hi:g}" for lo, hi in zip(self.low, self.high, strict=True))
            scaling = f"{self.dtype} {ranges} -> 0-255 ({self.scale_choice})"
        if self.resampling is None:
            grid = f"read at its own {self.source_resolution_m:.3g} m/px"
        else:
            grid = (
                f"resampled {self.source_resolution_m:.3g} -> {self.resolution_m:.3g} m/px "
                f"({self.resampling.name})"
            )
        if self.reprojected:
            grid += f", reprojected {_crs_name(self.source_crs)} -> {_crs_name(self.crs)}"
        return f"{self.path.name}: {bands}; {scaling}; {grid}"


def _crs_name(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()


def parse_bands(text: str) -> tuple[int, ...]:
    """Parse a band list such as ``"3,2,1"`` (1-based, comma-separated).

    Raises:
        RoadkdError: if an item is not a positive integer.
    """
    try:
        bands = tuple(int(item) for item in text.split(","))
    except ValueError:
        bands = ()
    if not bands or min(bands) < 1:
        raise RoadkdError(f"bands must be 1-based numbers separated by commas, got {text!r}")
    return bands


# -- planning ---------------------------------------------------------------------------------


def choose_bands(
    src: DatasetReader, in_channels: int, bands: tuple[int, ...] | None
) -> tuple[tuple[int, ...], str]:
    """Pick the bands to feed a model.

    Args:
        src: the open scene.
        in_channels: bands the model needs.
        bands: the user's 1-based choice, or None.

    Returns:
        1-based band numbers in model order, and how they were chosen.

    Raises:
        RoadkdError: if the choice does not fit the scene or the model.
    """
    name = Path(src.name).name
    if bands is not None:
        if len(bands) != in_channels:
            raise RoadkdError(
                f"--bands gives {len(bands)} band(s) but the model needs {in_channels}"
            )
        wrong = [b for b in bands if not 1 <= b <= src.count]
        if wrong:
            raise RoadkdError(
                f"--bands {','.join(map(str, bands))}: {name} has bands 1-{src.count} only"
            )
        return tuple(bands), "--bands"
    if src.count < in_channels:
        raise RoadkdError(f"{name} has {src.count} band(s) but the model needs {in_channels}")
    interp = list(src.colorinterp)
    if in_channels == len(RGB) and all(c in interp for c in RGB):
        return tuple(interp.index(c) + 1 for c in RGB), "by colour interpretation"
    return tuple(range(1, in_channels + 1)), "the first bands"


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
        with reading(path, "image"), rasterio.open(path) as src:
            if src.count < max(bands):
                raise RoadkdError(f"{path} has {src.count} band(s), {max(bands)} are needed")
            pixels += src.width * src.height
    step = stats_step(pixels)
    pooled: list[list[np.ndarray]] = [[] for _ in bands]
    for path in paths:
        with reading(path, "image"), rasterio.open(path) as src:
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


def utm_crs(src_crs: CRS, x: float, y: float) -> CRS:
    """The WGS 84 UTM zone CRS of a point given in ``src_crs``.

    Raises:
        RoadkdError: if no UTM zone covers the point (e.g. near the poles).
    """
    to_lonlat = Transformer.from_crs(
        ProjCRS.from_wkt(src_crs.to_wkt()), "EPSG:4326", always_xy=True
    )
    lon, lat = to_lonlat.transform(x, y)
    zones = query_utm_crs_info(
        datum_name="WGS 84", area_of_interest=AreaOfInterest(lon, lat, lon, lat)
    )
    if not zones:
        raise RoadkdError(
            f"no UTM zone covers lon {lon:.4f}, lat {lat:.4f}: reproject the scene first"
        )
    return CRS.from_epsg(int(zones[0].code))


def _envelope(transform: Affine, width: int, height: int) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) of a grid's four corners (rotated grids included)."""
    corners = [transform @ (c, r) for c in (0, width) for r in (0, height)]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    return min(xs), min(ys), max(xs), max(ys)


def _resolution_check(
    name: str, source_m: float, model_m: float, options: ReadOptions
) -> list[str]:
    """Refuse a scene far from the model's resolution; warn for a much coarser one."""
    ratio = source_m / model_m
    factor = max(ratio, 1 / ratio)
    side = "coarser" if ratio > 1 else "finer"
    # Tolerance: a model's nominal 0.21 m and a scene's measured 0.2101 m are the same.
    slack = 1 + SAME_RESOLUTION_TOLERANCE
    if factor > REFUSE_FACTOR * slack and not options.any_resolution:
        raise RoadkdError(
            f"{name} is {source_m:.3g} m/px, {factor:.1f}x {side} than the model's "
            f"{model_m:.3g} m/px (limit {REFUSE_FACTOR:g}x): use a model trained near this "
            "resolution, or --any-resolution to run anyway"
        )
    if ratio > WARN_COARSER * slack:
        return [
            f"warning: {name} is {source_m:.3g} m/px, {ratio:.1f}x coarser than the model's "
            f"{model_m:.3g} m/px: detail that is not in the imagery cannot come back, "
            "expect missed and broken roads"
        ]
    return []


class OnPlannedGrid:
    """The output grid's facts, read from a :class:`ScenePlan` held as ``self.plan``."""

    plan: ScenePlan

    @property
    def crs(self) -> CRS:
        """CRS of the grid the model sees (the scene's; UTM for a scene in degrees)."""
        return self.plan.crs

    @property
    def transform(self) -> Affine:
        """Transform of the grid the model sees."""
        return self.plan.transform

    @property
    def width(self) -> int:
        """Columns of the grid the model sees."""
        return self.plan.width

    @property
    def height(self) -> int:
        """Rows of the grid the model sees."""
        return self.plan.height


def plan_scene(
    src: DatasetReader,
    in_channels: int,
    resolution_m: float,
    options: ReadOptions | None = None,
    training_percentiles: BandPercentiles | None = None,
) -> ScenePlan:
    """Decide how to read a scene for a model: bands, scaling and output grid.

    Scaling: uint8 is used as it is. Other types (uint16, int16, float, ...) are stretched
    per band, linearly, so that the scene's 2 and 98 percentiles become the training
    imagery's (``training_percentiles``), or 0 and 255 when the model records none; values
    beyond clip to 0-255. ``options.scale`` maps MIN -> 0 and MAX -> 255 instead.

    Args:
        src: the open scene.
        in_channels: bands the model needs.
        resolution_m: the model's metres per pixel.
        options: the user's choices.
        training_percentiles: the model's recorded training percentiles (None: unknown).

    Returns:
        The plan.

    Raises:
        RoadkdError: if the scene has no CRS, too few bands, or a resolution too far from the
            model's.
    """
    opts = options or ReadOptions()
    path = Path(src.name)
    if src.crs is None:
        raise RoadkdError(
            f"{path} has no coordinate reference system; assign one first "
            "(e.g. gdal_edit.py -a_srs EPSG:32618 scene.tif)"
        )
    if not math.isfinite(resolution_m) or resolution_m <= 0:
        raise RoadkdError(f"the model's resolution must be a positive number, got {resolution_m}")
    bands, band_choice = choose_bands(src, in_channels, opts.bands)
    dtype = src.dtypes[bands[0] - 1]
    low: tuple[float, ...] | None
    high: tuple[float, ...] | None
    scene_percentiles: BandPercentiles | None = None
    target_percentiles: BandPercentiles | None = None
    if opts.scale is not None:
        lo, hi = opts.scale
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            raise RoadkdError(f"--scale MIN MAX needs finite MIN < MAX, got {lo} {hi}")
        low, high, scale_choice = (lo,) * len(bands), (hi,) * len(bands), "--scale"
    elif all(src.dtypes[b - 1] == "uint8" for b in bands):
        low, high, scale_choice = None, None, "as is"
    else:
        scene_percentiles = band_percentiles(src, bands)
        if training_percentiles is None:
            low, high = scene_percentiles.low, scene_percentiles.high
            scale_choice = "per band; no training range recorded"
        else:
            target_percentiles = training_percentiles
            low, high = stretch_onto(scene_percentiles, training_percentiles)
            scale_choice = "per band, onto the training data's recorded 2-98 %"

    shape = (src.height, src.width)
    source_m = ground_resolution_m(src.transform, src.crs, shape)
    warnings = _resolution_check(path.name, source_m, resolution_m, opts)
    target_m = source_m if opts.native_resolution else resolution_m
    geographic = bool(src.crs.is_geographic)
    same = abs(source_m / target_m - 1) <= SAME_RESOLUTION_TOLERANCE
    common: dict[str, Any] = {
        "path": path,
        "bands": bands,
        "band_names": tuple(src.colorinterp[b - 1].name for b in bands),
        "band_choice": band_choice,
        "dtype": dtype,
        "low": low,
        "high": high,
        "scale_choice": scale_choice,
        "source_crs": src.crs,
        "source_resolution_m": source_m,
        "area_km2": area_km2(src.transform, src.crs, shape),
        "warnings": tuple(warnings),
        "scene_percentiles": scene_percentiles,
        "target_percentiles": target_percentiles,
    }
    if same and not geographic:
        return ScenePlan(
            crs=src.crs,
            transform=src.transform,
            width=src.width,
            height=src.height,
            resolution_m=source_m,
            resampling=None,
            **common,
        )
    envelope = _envelope(src.transform, src.width, src.height)
    if geographic:
        centre = ((envelope[0] + envelope[2]) / 2, (envelope[1] + envelope[3]) / 2)
        crs = utm_crs(src.crs, *centre)
        envelope = transform_bounds(src.crs, crs, *envelope, densify_pts=21)
        unit = target_m  # UTM units are metres
    else:
        crs = src.crs
        # CRS units per ground metre, as measured on this grid (feet, Web Mercator, ...).
        unit = target_m * planar_pixel_size(src.transform) / source_m
    left, bottom, right, top = envelope
    width = max(1, round((right - left) / unit))
    height = max(1, round((top - bottom) / unit))
    return ScenePlan(
        crs=crs,
        transform=Affine(unit, 0.0, left, 0.0, -unit, top),
        width=width,
        height=height,
        resolution_m=target_m,
        resampling=Resampling.average if target_m > source_m else Resampling.bilinear,
        **common,
    )
