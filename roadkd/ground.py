"""Ground measurements of a raster grid in metres, whatever its CRS.

The one home of "how long is a pixel step", in CRS units and in metres: vectorisation
(lengths, widths, areas), the scene reader (resampling to a model's resolution), the
datamodule (the resolution a model is trained at) and the summaries (km2) all measure here.
"""

import math

from affine import Affine
from pyproj import CRS, Geod, Transformer
from pyproj.exceptions import ProjError


def pixel_step(transform: Affine) -> tuple[float, float]:
    """CRS units per pixel step along columns and along rows (rotated grids included)."""
    return math.hypot(transform.a, transform.d), math.hypot(transform.b, transform.e)


def pixel_size_m(
    transform: Affine, crs: object | None, shape: tuple[int, int]
) -> tuple[float, float]:
    """Metres on the ground per pixel step along columns and along rows.

    Measured geodesically across the middle of the scene, so it holds for projected CRSs
    in metres or feet, for Web Mercator (whose "metres" stretch with latitude) and for
    geographic CRSs in degrees. Without a CRS, or if it cannot be converted to longitude
    and latitude, the transform's units are taken as metres.

    Args:
        transform: the raster's affine transform.
        crs: the raster's CRS (anything pyproj accepts, or a rasterio CRS), or None.
        shape: (rows, cols) of the raster.

    Returns:
        (metres per column step, metres per row step).
    """
    planar = pixel_step(transform)
    if crs is None:
        return planar
    rows, cols = shape
    # Measure over half the scene, not one pixel, to stay clear of rounding.
    half = max(1.0, min(rows, cols) / 2)
    centre = (cols / 2, rows / 2)
    samples = [centre, (centre[0] + half, centre[1]), (centre[0], centre[1] + half)]
    try:
        source = CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)
        to_lonlat = Transformer.from_crs(source, source.geodetic_crs, always_xy=True)
        lonlat = [to_lonlat.transform(*(transform @ xy)) for xy in samples]
        geod = Geod(ellps="WGS84")
        sizes = []
        for end in lonlat[1:]:
            _, _, distance = geod.inv(*lonlat[0], *end)
            sizes.append(distance / half)
    except (ProjError, TypeError, ValueError):
        return planar
    if not all(math.isfinite(s) and s > 0 for s in sizes):
        return planar
    return sizes[0], sizes[1]


#: Largest gap between a projected CRS's nominal and its measured ground metres that is
#: taken as the projection's scale factor (UTM: < 0.1 %) rather than a distortion to undo.
NOMINAL_TOLERANCE = 0.01


def ground_resolution_m(transform: Affine, crs: object | None, shape: tuple[int, int]) -> float:
    """Metres per pixel of a grid: the geometric mean of its column and row steps.

    For a projected CRS whose units (metres, feet, ...) measure the ground within 1 % here,
    the nominal value is returned (0.21 for a 0.21 m UTM grid, whose geodesic measure is
    0.2101 away from the central meridian), so that a dataset's stated resolution and its
    rasters agree. Otherwise (degrees, Web Mercator away from the equator) the geodesic
    measure of :func:`pixel_size_m` is returned.

    Args:
        transform: the raster's affine transform (rotated grids included).
        crs: the raster's CRS (metres, feet or degrees), or None (units taken as metres).
        shape: (rows, cols) of the raster.

    Returns:
        The ground sampling distance in metres.
    """
    size_x, size_y = pixel_size_m(transform, crs, shape)
    measured = math.sqrt(size_x * size_y)
    unit = _linear_unit_m(crs)
    if unit is None:
        return measured
    planar = math.sqrt(math.prod(pixel_step(transform)))
    nominal = planar * unit
    return nominal if abs(nominal / measured - 1) <= NOMINAL_TOLERANCE else measured


def _linear_unit_m(crs: object | None) -> float | None:
    """Metres per unit of a projected CRS's first axis; None for other CRSs."""
    if crs is None:
        return None
    try:
        source = CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)
    except (ProjError, TypeError, ValueError):
        return None
    if not source.is_projected or not source.axis_info:
        return None
    factor = source.axis_info[0].unit_conversion_factor
    return float(factor) if factor and math.isfinite(factor) else None


def area_km2(transform: Affine, crs: object | None, shape: tuple[int, int]) -> float:
    """Ground area a grid covers in square kilometres (right in degrees and feet too).

    Args:
        transform: the raster's affine transform.
        crs: the raster's CRS, or None (units taken as metres).
        shape: (rows, cols) of the raster.

    Returns:
        The area in km2.
    """
    size_x, size_y = pixel_size_m(transform, crs, shape)
    return shape[0] * shape[1] * size_x * size_y / 1e6
