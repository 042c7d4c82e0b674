"""Road vectorisation: probability/mask rasters to centreline and surface layers."""

from .core import RoadVectors, read_road_raster, vectorize_array, vectorize_raster
from .options import VectorizeOptions
from .writers import SUPPORTED, check_output_path, layer_names, write_layers, write_vectors

__all__ = [
    "SUPPORTED",
    "RoadVectors",
    "VectorizeOptions",
    "check_output_path",
    "layer_names",
    "read_road_raster",
    "vectorize_array",
    "vectorize_raster",
    "write_layers",
    "write_vectors",
]
