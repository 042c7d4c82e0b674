"""Metrics: pixel scores of the road class and relaxed (buffered) precision/recall."""

from .apls import apls
from .pixel import RoadMetrics, confusion_counts, scores_from_counts
from .relaxed import relaxed_counts, relaxed_precision_recall, relaxed_scores

__all__ = [
    "RoadMetrics",
    "apls",
    "confusion_counts",
    "relaxed_counts",
    "relaxed_precision_recall",
    "relaxed_scores",
    "scores_from_counts",
]
