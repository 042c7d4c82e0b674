"""Relaxed precision and recall: a road pixel counts if the other side has road nearby.

Thin structures such as centrelines are rarely drawn to the exact pixel; the usual road
benchmark tolerance is a buffer of a few pixels.
"""

import numpy as np
from scipy import ndimage


def relaxed_precision_recall(
    pred: np.ndarray, target: np.ndarray, buffer_px: float = 3.0
) -> tuple[float, float]:
    """Relaxed precision and recall of two binary road maps.

    Args:
        pred: (H, W) predicted road (bool or 0/1).
        target: (H, W) true road (bool or 0/1).
        buffer_px: tolerance in pixels.

    Returns:
        ``(precision, recall)``: the share of predicted road pixels within ``buffer_px`` of
        true road, and of true road pixels within ``buffer_px`` of predicted road (1.0 when
        there is nothing to score).
    """
    p = np.asarray(pred).astype(bool)
    t = np.asarray(target).astype(bool)
    dist_to_true = ndimage.distance_transform_edt(~t) if t.any() else np.full(t.shape, np.inf)
    dist_to_pred = ndimage.distance_transform_edt(~p) if p.any() else np.full(p.shape, np.inf)
    precision = float((dist_to_true[p] <= buffer_px).mean()) if p.any() else 1.0
    recall = float((dist_to_pred[t] <= buffer_px).mean()) if t.any() else 1.0
    return precision, recall
