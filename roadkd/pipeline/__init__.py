"""Scene -> probability raster -> road vectors: the jobs behind ``roadkd predict``.

:mod:`roadkd.inference` goes from a model to a probability raster and
:mod:`roadkd.vectorize` from a probability raster to vectors; this package chains them.
"""

from .outputs import expand_scenes
from .predict import PredictResult, run_predict
from .preview import write_preview

__all__ = ["PredictResult", "expand_scenes", "run_predict", "write_preview"]
