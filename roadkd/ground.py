"""Ground measurements of a raster grid in metres, whatever its CRS.

The one home of "how long is a pixel step", in CRS units and in metres: vectorisation
(lengths, widths, areas), the scene reader (resampling to a model's resolution), the
datamodule (the resolution a model is trained at) and the summaries (km2) all measure here.
"""

import math

from affine import Affine
from pyproj import CRS, Geod, Transformer
from pyproj.exceptions import ProjError

#: A pixel's two sides on the ground: the (east, north) metres of one column step and of
#: one row step.
PixelSteps = tuple[tuple[float, float], tuple[float, float]]


def pixel_steps_m(transform: Affine, crs: object | None, shape: tuple[int, int]) -> PixelSteps:
    """Ground vectors, (east, north) in metres, of one column step and one row step.

    Both sides of a pixel as vectors, so that rotated and sheared grids measure right:
    a length is the norm of a sum of steps, an area the cross product of the two
    (:func:`pixel_area_m2`), never the product of the sides' lengths.

    Measured geodesically across the middle of the scene, so it holds for projected CRSs
    in metres or feet, for Web Mercator (whose "metres" stretch with latitude) and for
    geographic CRSs in degrees. Without a CRS, or if it cannot be converted to longitude
    and latitude, the transform's units are taken as metres.

    Args:
        transform: the raster's affine transform.
        crs: the raster's CRS (anything pyproj accepts, or a rasterio CRS), or None.
        shape: (rows, cols) of the raster.

    Returns:
        (column step, row step), each (east, north) metres.
    """
    planar = planar_steps(transform)
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
        steps = []
        for end in lonlat[1:]:
            azimuth, _, distance = geod.inv(*lonlat[0], *end)
            step = distance / half
            steps.append(
                (step * math.sin(math.radians(azimuth)), step * math.cos(math.radians(azimuth)))
            )
    except (ProjError, TypeError, ValueError):
        return planar
    if not all(math.isfinite(v) for step in steps for v in step) or _cross(*steps) == 0:
        return planar
    return steps[0], steps[1]


def planar_steps(transform: Affine) -> PixelSteps:
    """The (x, y) CRS-unit vectors of one column step and one row step of a grid."""
    return (transform.a, transform.d), (transform.b, transform.e)


def step_lengths(steps: PixelSteps) -> tuple[float, float]:
    """Lengths of a column step and of a row step (a rotated grid's too)."""
    column, row = steps
    return math.hypot(*column), math.hypot(*row)


def step_area(steps: PixelSteps) -> float:
    """Area of the pixel two steps span: their cross product (a sheared grid's too)."""
    return _cross(*steps)


def _cross(u: tuple[float, float], v: tuple[float, float]) -> float:
    return abs(u[0] * v[1] - u[1] * v[0])


def pixel_size_m(
    transform: Affine, crs: object | None, shape: tuple[int, int]
) -> tuple[float, float]:
    """Metres on the ground per pixel step along columns and along rows.

    The lengths of :func:`pixel_steps_m` (on a sheared grid their product is more than
    a pixel's area: use :func:`pixel_area_m2` for areas).

    Returns:
        (metres per column step, metres per row step).
    """
    return step_lengths(pixel_steps_m(transform, crs, shape))


def pixel_area_m2(transform: Affine, crs: object | None, shape: tuple[int, int]) -> float:
    """Ground area of one pixel in square metres: the cross product of its two sides.

    Right for rotated and sheared grids (on which it is the transform's determinant in
    ground units), in degrees and feet too.
    """
    return step_area(pixel_steps_m(transform, crs, shape))


def planar_pixel_size(transform: Affine) -> float:
    """Side of a square pixel of a grid's pixel area, in CRS units: sqrt(|determinant|)."""
    return math.sqrt(abs(transform.determinant))


#: Largest gap between a projected CRS's nominal and its measured ground metres that is
#: taken as the projection's scale factor (UTM: < 0.1 %) rather than a distortion to undo.
NOMINAL_TOLERANCE = 0.01


def ground_resolution_m(transform: Affine, crs: object | None, shape: tuple[int, int]) -> float:
    """Metres per pixel of a grid: the side of a square pixel of the same ground area.

    On a north-up grid this is the geometric mean of its column and row steps; on a
    sheared one it is less (rows 0.21 m apart along a slanted column are a 0.21 m grid).

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
    measured = math.sqrt(pixel_area_m2(transform, crs, shape))
    unit = _linear_unit_m(crs)
    if unit is None:
        return measured
    nominal = planar_pixel_size(transform) * unit
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
    """Ground area a grid covers in square kilometres.

    Right in degrees and feet, and on rotated and sheared grids, too.

    Args:
        transform: the raster's affine transform.
        crs: the raster's CRS, or None (units taken as metres).
        shape: (rows, cols) of the raster.

    Returns:
        The area in km2.
    """
    return shape[0] * shape[1] * pixel_area_m2(transform, crs, shape) / 1e6
