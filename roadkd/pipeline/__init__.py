"""The jobs behind ``roadkd predict`` and ``roadkd vectorize``: scenes to road vectors.

:mod:`roadkd.inference` goes from a model to a probability raster and
:mod:`roadkd.vectorize` from a probability raster to vectors; this package chains them,
groups scenes into networks, and writes the outputs.
"""

from .outputs import PredictOutputs, expand_scenes
from .predict import PredictResult, PredictSettings, run_predict
from .preview import write_preview
from .vectorize import run_vectorize

__all__ = [
    "PredictOutputs",
    "PredictResult",
    "PredictSettings",
    "expand_scenes",
    "run_predict",
    "run_vectorize",
    "write_preview",
]
