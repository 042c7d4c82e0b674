"""Metrics: pixel scores of the road class, relaxed precision/recall, APLS, TOPO, lengths.

The settings (:mod:`.options`) import nothing heavy, so the command line can show their
defaults without loading the metrics; everything else is imported on first use (APLS,
TOPO and the others from their modules: ``roadkd.metrics.apls.apls``).
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports
from .options import CompareSettings, TopoSettings

if TYPE_CHECKING:
    from .pixel import RoadMetrics, confusion_counts, scores_from_counts
    from .relaxed import relaxed_counts, relaxed_precision_recall, relaxed_scores

#: Public name -> the submodule that defines it (imported when the name is first used).
_LAZY = {
    "RoadMetrics": "pixel",
    "confusion_counts": "pixel",
    "scores_from_counts": "pixel",
    "relaxed_counts": "relaxed",
    "relaxed_precision_recall": "relaxed",
    "relaxed_scores": "relaxed",
}


__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "CompareSettings",
    "RoadMetrics",
    "TopoSettings",
    "confusion_counts",
    "relaxed_counts",
    "relaxed_precision_recall",
    "relaxed_scores",
    "scores_from_counts",
]
