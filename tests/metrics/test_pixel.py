"""Pixel and relaxed metrics against hand-computed cases."""

import numpy as np
import pytest
import torch

from roadkd.metrics import (
    RoadMetrics,
    confusion_counts,
    relaxed_precision_recall,
    scores_from_counts,
)


def test_confusion_counts_and_scores() -> None:
    pred = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]])
    target = torch.tensor([[1, 0, 1, 0], [1, 0, 255, 0]])
    tp, fp, fn, tn = confusion_counts(pred, target)
    assert (tp, fp, fn, tn) == (2, 1, 1, 3)
    s = scores_from_counts(tp, fp, fn, tn)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 / 3)
    assert s["road_iou"] == pytest.approx(0.5)
    assert s["miou"] == pytest.approx((0.5 + 3 / 5) / 2)
    # the authors' two-class scores: background precision 3/4, recall 3/4, F1 3/4
    assert s["accuracy"] == pytest.approx(5 / 7)
    assert s["class_precision"] == pytest.approx((2 / 3 + 3 / 4) / 2)
    assert s["class_recall"] == pytest.approx((2 / 3 + 3 / 4) / 2)
    assert s["macro_f1"] == pytest.approx((2 / 3 + 3 / 4) / 2)


def test_scores_with_empty_denominators() -> None:
    assert scores_from_counts(0, 0, 0, 10)["road_iou"] == 1.0
    assert scores_from_counts(0, 0, 5, 10)["precision"] == 1.0


def test_f1_is_zero_when_every_predicted_road_is_wrong() -> None:
    # no true positive: precision and recall are 0, and F1 must not come out as 1.0
    s = scores_from_counts(0, 4, 6, 90)
    assert s["precision"] == 0.0 and s["recall"] == 0.0
    assert s["f1"] == 0.0
    assert s["macro_f1"] == pytest.approx((0.0 + 2 * 90 / (2 * 90 + 4 + 6)) / 2)
    # nothing predicted road while road exists: F1 0, not the empty-precision 1.0
    assert scores_from_counts(0, 0, 5, 10)["f1"] == 0.0


def test_road_metrics_accumulates_batches() -> None:
    metric = RoadMetrics()
    metric.update(torch.tensor([[1, 0]]), torch.tensor([[1, 1]]))
    metric.update(torch.tensor([[1, 1]]), torch.tensor([[0, 1]]))
    scores = metric.compute()
    assert scores["road_iou"].item() == pytest.approx(2 / 4)
    metric.reset()
    metric.update(torch.ones(1, 2, dtype=torch.long), torch.ones(1, 2, dtype=torch.long))
    assert metric.compute()["road_iou"].item() == 1.0


def test_relaxed_precision_recall_shifted_line() -> None:
    target = np.zeros((20, 20), bool)
    target[10, 2:18] = True
    pred = np.zeros_like(target)
    pred[12, 2:18] = True  # 2 px off
    assert relaxed_precision_recall(pred, target, buffer_px=3) == (1.0, 1.0)
    assert relaxed_precision_recall(pred, target, buffer_px=1) == (0.0, 0.0)
    half = pred.copy()
    half[12, 10:18] = False
    p, r = relaxed_precision_recall(half, target, buffer_px=3)
    # target columns 2..11 lie within 3 px of the prediction (2 px down, up to 2 px along)
    assert p == 1.0 and r == pytest.approx(10 / 16)


def test_relaxed_counts_sum_across_scenes() -> None:
    from roadkd.metrics.relaxed import relaxed_counts, relaxed_scores

    target = np.zeros((20, 20), bool)
    target[10, 2:18] = True  # 16 true pixels
    pred = np.zeros((20, 20), bool)
    pred[12, 2:10] = True  # 8 predicted, 2 px from the truth
    pred[0, 10:18] = True  # 8 predicted, far away
    counts = relaxed_counts(pred, target, buffer_px=3)
    # truth columns 2-9 are 2 px from the prediction, 10 and 11 within 3 px diagonally
    assert counts.tolist() == [8, 16, 10, 16]
    empty = relaxed_counts(np.zeros_like(pred), np.zeros_like(target))
    assert relaxed_scores(counts + empty) == (0.5, 0.625)
    assert relaxed_scores(empty) == (1.0, 1.0)
