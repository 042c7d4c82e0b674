"""Road vectorisation: probability/mask rasters to centreline and surface layers.

The settings (:mod:`.options`) import nothing heavy, so the command line can show their
defaults without loading the vectoriser; everything else is imported on first use.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports
from .options import DEFAULT_BLOCK, VectorizeOptions

if TYPE_CHECKING:
    from .executors import default_workers
    from .raster import read_road_raster
    from .result import RoadVectors, WorkSummary
    from .run import vectorize_array, vectorize_raster
    from .writers import check_output_path, layer_names, write_layers, write_vectors

#: Public name -> the submodule that defines it (imported when the name is first used).
_LAZY = {
    "RoadVectors": "result",
    "WorkSummary": "result",
    "read_road_raster": "raster",
    "default_workers": "executors",
    "vectorize_array": "run",
    "vectorize_raster": "run",
    "check_output_path": "writers",
    "layer_names": "writers",
    "write_layers": "writers",
    "write_vectors": "writers",
}


__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "DEFAULT_BLOCK",
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
