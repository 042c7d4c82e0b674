"""Road vectorisation: probability/mask rasters to centreline and surface layers."""

from .core import RoadVectors, read_road_raster, vectorize_array, vectorize_raster
from .options import VectorizeOptions
from .writers import check_output_path, write_vectors

__all__ = [
    "RoadVectors",
    "VectorizeOptions",
    "check_output_path",
    "read_road_raster",
    "vectorize_array",
    "vectorize_raster",
    "write_vectors",
]
