"""Relaxed precision and recall: a road pixel counts if the other side has road nearby.

Thin structures such as centrelines are rarely drawn to the exact pixel; the usual road
benchmark tolerance is a buffer of a few pixels.
"""

import numpy as np
from scipy import ndimage


def relaxed_counts(pred: np.ndarray, target: np.ndarray, buffer_px: float = 3.0) -> np.ndarray:
    """The four counts behind relaxed precision and recall (summable across scenes).

    Args:
        pred: (H, W) predicted road (bool or 0/1).
        target: (H, W) true road (bool or 0/1).
        buffer_px: tolerance in pixels.

    Returns:
        int64 ``[predicted pixels near true road, predicted pixels, true pixels near
        predicted road, true pixels]``.
    """
    p = np.asarray(pred).astype(bool)
    t = np.asarray(target).astype(bool)
    dist_to_true = ndimage.distance_transform_edt(~t) if t.any() else np.full(t.shape, np.inf)
    dist_to_pred = ndimage.distance_transform_edt(~p) if p.any() else np.full(p.shape, np.inf)
    near_true = (dist_to_true[p] <= buffer_px).sum()
    near_pred = (dist_to_pred[t] <= buffer_px).sum()
    return np.array([near_true, p.sum(), near_pred, t.sum()], dtype=np.int64)


def relaxed_scores(counts: np.ndarray) -> tuple[float, float]:
    """``(precision, recall)`` from :func:`relaxed_counts` (1.0 when nothing to score)."""
    near_true, predicted, near_pred, true = (int(c) for c in counts)
    return (near_true / predicted if predicted else 1.0, near_pred / true if true else 1.0)


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
    return relaxed_scores(relaxed_counts(pred, target, buffer_px))
