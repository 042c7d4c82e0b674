"""Road vectorisation: probability/mask rasters to centreline and surface layers."""

from .core import RoadVectors, read_road_raster, vectorize_array, vectorize_raster
from .options import VectorizeOptions
from .writers import write_vectors

__all__ = [
    "RoadVectors",
    "VectorizeOptions",
    "read_road_raster",
    "vectorize_array",
    "vectorize_raster",
    "write_vectors",
]
