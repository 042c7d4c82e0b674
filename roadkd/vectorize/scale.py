"""Ground size of a pixel in metres: the measure lives in :mod:`roadkd.ground`."""

from ..ground import pixel_size_m

__all__ = ["pixel_size_m"]
