"""Pixel metrics of the road class: IoU, precision, recall, F1 and the 2-class mean IoU.

Road papers report the road-class scores; the SSLKD authors' code reports the mean IoU of
road and background. Both come from the same four counts.
"""

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric

from ..labels import IGNORE_INDEX

__all__ = ["IGNORE_INDEX", "RoadMetrics", "confusion_counts", "scores_from_counts"]


def confusion_counts(
    pred: Tensor | np.ndarray, target: Tensor | np.ndarray, ignore_index: int = IGNORE_INDEX
) -> tuple[int, int, int, int]:
    """Count road true/false positives and negatives over valid pixels.

    Args:
        pred: predicted labels (any shape), 1 = road.
        target: true labels of the same shape, 1 = road, ``ignore_index`` = unknown.
        ignore_index: label of pixels to leave out.

    Returns:
        ``(tp, fp, fn, tn)``.
    """
    p = torch.as_tensor(pred)
    t = torch.as_tensor(target)
    valid = t != ignore_index
    p_road = (p == 1) & valid
    t_road = (t == 1) & valid
    tp = int((p_road & t_road).sum())
    fp = int((p_road & ~t_road).sum())
    fn = int((~p_road & t_road).sum())
    tn = int(valid.sum()) - tp - fp - fn
    return tp, fp, fn, tn


def _ratio(num: float, den: float) -> float:
    # An empty denominator means nothing to get wrong: score it perfect.
    return num / den if den > 0 else 1.0


def scores_from_counts(tp: float, fp: float, fn: float, tn: float) -> dict[str, float]:
    """Road-class scores and the authors' two-class scores from confusion counts.

    Road papers report the road class's IoU, precision, recall and F1; the SSLKD authors'
    code reports two-class scores: mean IoU, overall accuracy, and precision, recall and
    F1 averaged over road and background. A score whose denominator is 0 (e.g. precision
    with no predicted road) is 1.0: there was nothing to get wrong.

    Args:
        tp: road pixels predicted road.
        fp: background pixels predicted road.
        fn: road pixels predicted background.
        tn: background pixels predicted background.

    Returns:
        ``{"road_iou", "precision", "recall", "f1", "miou", "accuracy",
        "class_precision", "class_recall", "macro_f1"}``.
    """
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    road_iou = _ratio(tp, tp + fp + fn)
    background_iou = _ratio(tn, tn + fp + fn)
    # F1 from counts, not from precision and recall: with no road predicted and some true
    # road, both are 0 (or precision 1.0 by the empty-denominator rule), never an F1 of 1.0
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    bg_precision = _ratio(tn, tn + fn)
    bg_recall = _ratio(tn, tn + fp)
    bg_f1 = _ratio(2 * tn, 2 * tn + fp + fn)
    return {
        "road_iou": road_iou,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "miou": (road_iou + background_iou) / 2,
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn),
        "class_precision": (precision + bg_precision) / 2,
        "class_recall": (recall + bg_recall) / 2,
        "macro_f1": (f1 + bg_f1) / 2,
    }


class RoadMetrics(Metric):
    """Torchmetrics accumulator of road confusion counts (DDP-safe: counts are summed)."""

    full_state_update = False

    def __init__(self, ignore_index: int = IGNORE_INDEX) -> None:
        """Initialise the counters.

        Args:
            ignore_index: label of pixels to leave out.
        """
        super().__init__()
        self.ignore_index = ignore_index
        for name in ("tp", "fp", "fn", "tn"):
            self.add_state(name, default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add a batch of predicted labels (B, H, W) and true labels (B, H, W)."""
        tp, fp, fn, tn = confusion_counts(preds.detach(), target.detach(), self.ignore_index)
        self.tp += tp  # type: ignore[operator]
        self.fp += fp  # type: ignore[operator]
        self.fn += fn  # type: ignore[operator]
        self.tn += tn  # type: ignore[operator]

    def compute(self) -> dict[str, Tensor]:
        """Return the scores of everything seen since the last reset."""
        counts = [float(c) for c in (self.tp, self.fp, self.fn, self.tn)]  # type: ignore[arg-type]
        return {k: torch.tensor(v) for k, v in scores_from_counts(*counts).items()}
