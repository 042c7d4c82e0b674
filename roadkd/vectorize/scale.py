"""Ground size of a pixel in metres: the measure lives in :mod:`roadkd.ground`."""

from ..ground import pixel_area_m2, pixel_size_m, pixel_steps_m, planar_pixel_size

__all__ = ["pixel_area_m2", "pixel_size_m", "pixel_steps_m", "planar_pixel_size"]
