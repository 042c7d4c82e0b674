"""Road vectorisation: probability/mask rasters to centreline and surface layers."""

from .blocks import DEFAULT_BLOCK
from .core import RoadVectors, WorkSummary, read_road_raster
from .options import VectorizeOptions
from .run import default_workers, vectorize_array, vectorize_raster
from .writers import check_output_path, write_vectors

__all__ = [
    "DEFAULT_BLOCK",
    "RoadVectors",
    "VectorizeOptions",
    "WorkSummary",
    "check_output_path",
    "default_workers",
    "read_road_raster",
    "vectorize_array",
    "vectorize_raster",
    "write_vectors",
]
