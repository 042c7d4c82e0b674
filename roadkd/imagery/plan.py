"""Deciding how a scene is read for a model: bands, scaling and the output grid."""

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.warp import transform_bounds

from ..errors import RoadkdError
from ..ground import area_km2, ground_resolution_m, planar_pixel_size
from .bands import choose_bands
from .scaling import BandPercentiles, band_percentiles, stretch_onto
from .utm import utm_crs

#: A scene whose resolution is within this share of the model's is read as it is.
SAME_RESOLUTION_TOLERANCE = 0.01
#: A scene this many times coarser than the model gets a warning.
WARN_COARSER = 2.0
#: A scene this many times coarser or finer than the model is refused (unless asked).
REFUSE_FACTOR = 8.0

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
