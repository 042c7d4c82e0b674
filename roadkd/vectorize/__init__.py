"""Road vectorisation: probability/mask rasters to centreline and surface layers."""

from .blocks import DEFAULT_BLOCK
from .core import RoadVectors, WorkSummary, read_road_raster
from .options import VectorizeOptions
from .run import default_workers, vectorize_array, vectorize_raster
from .writers import SUPPORTED, check_output_path, layer_names, write_layers, write_vectors

__all__ = [
    "DEFAULT_BLOCK",
    "SUPPORTED",
    "RoadVectors",
    "VectorizeOptions",
    "WorkSummary",
    "check_output_path",
    "default_workers",
    "layer_names",
    "read_road_raster",
    "vectorize_array",
    "vectorize_raster",
    "write_layers",
    "write_vectors",
]
