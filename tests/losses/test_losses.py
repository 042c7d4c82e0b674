"""SSLKD losses against hand-computed values and their edge cases."""

import math

import pytest
import torch

from roadkd.losses import (
    FeatureAdapter,
    cross_pseudo_supervision_loss,
    dice_loss,
    feature_distillation_loss,
    fuse_teacher_probabilities,
    probability_distillation_loss,
    pseudo_label_loss,
    pseudo_label_weights,
    supervised_loss,
)


def logits_from_probs(*road_probs: float) -> torch.Tensor:
    """(1, 2, 1, N) logits whose softmax gives the listed road probabilities."""
    p = torch.tensor(road_probs)
    return torch.stack([torch.log(1 - p), torch.log(p)]).view(1, 2, 1, -1)


def test_supervised_loss_hand_computed() -> None:
    logits = logits_from_probs(0.8, 0.3)
    target = torch.tensor([[[1, 0]]])
    expected = -(math.log(0.8) + math.log(0.7)) / 2
    assert supervised_loss(logits, target).item() == pytest.approx(expected, rel=1e-5)


def test_supervised_loss_ignores_pixels() -> None:
    logits = logits_from_probs(0.8, 0.3)
    target = torch.tensor([[[1, 255]]])
    assert supervised_loss(logits, target).item() == pytest.approx(-math.log(0.8), rel=1e-5)
    all_ignored = supervised_loss(logits.requires_grad_(), torch.full((1, 1, 2), 255))
    assert all_ignored.item() == 0.0
    all_ignored.backward()


def test_dice_loss_hand_computed() -> None:
    logits = logits_from_probs(0.8, 0.3)
    target = torch.tensor([[[1, 0]]])
    expected = 1 - (2 * 0.8 + 1) / (0.8 + 0.3 + 1 + 1)
    assert dice_loss(logits, target).item() == pytest.approx(expected, rel=1e-5)
    with_dice = supervised_loss(logits, target, dice_weight=0.5).item()
    assert with_dice == pytest.approx(
        -(math.log(0.8) + math.log(0.7)) / 2 + 0.5 * expected, rel=1e-5
    )


def test_feature_loss_zero_for_identical_and_scale_invariant() -> None:
    teacher = torch.randn(2, 8, 4, 4)
    assert feature_distillation_loss(teacher, teacher).item() == pytest.approx(0.0, abs=1e-7)
    scale = torch.rand(2, 1, 4, 4) + 0.5
    assert feature_distillation_loss(teacher * scale, teacher).item() == pytest.approx(
        0.0, abs=1e-6
    )


def test_feature_loss_hand_computed_and_resized() -> None:
    student = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
    teacher = torch.tensor([0.0, 1.0]).view(1, 2, 1, 1)
    # orthogonal unit vectors: (1-0)^2 + (0-1)^2 summed over the channels
    assert feature_distillation_loss(student, teacher).item() == pytest.approx(2.0)
    big_student = student.expand(1, 2, 4, 4)
    big_teacher = teacher.expand(1, 2, 2, 2)
    assert feature_distillation_loss(big_student, big_teacher).item() == pytest.approx(2.0)


def test_feature_loss_sums_channels_and_averages_pixels() -> None:
    # pixel 1: student (3, 4) -> (0.6, 0.8), teacher (1, 0): 0.4^2 + 0.8^2 = 0.8
    # pixel 2: student (0, 2) -> (0, 1), teacher (0, -5) -> (0, -1): 2^2 = 4 (opposite)
    student = torch.tensor([[3.0, 0.0], [4.0, 2.0]]).view(1, 2, 1, 2)
    teacher = torch.tensor([[1.0, 0.0], [0.0, -5.0]]).view(1, 2, 1, 2)
    assert feature_distillation_loss(student, teacher).item() == pytest.approx((0.8 + 4) / 2)


def test_feature_loss_does_not_shrink_with_channels() -> None:
    # the same pair of directions padded with zero channels scores the same
    student = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)
    teacher = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
    wide = torch.zeros(1, 2048, 1, 1)
    wide_student, wide_teacher = wide.clone(), wide.clone()
    wide_student[:, :2], wide_teacher[:, :2] = student, teacher
    narrow = feature_distillation_loss(student, teacher).item()
    assert narrow == pytest.approx(0.8)
    assert feature_distillation_loss(wide_student, wide_teacher).item() == pytest.approx(narrow)


def test_feature_adapter_shapes() -> None:
    adapter = FeatureAdapter(16, 32)
    assert adapter(torch.randn(2, 16, 5, 5)).shape == (2, 32, 5, 5)


def test_fuse_teacher_probabilities_is_mean() -> None:
    fused = fuse_teacher_probabilities([logits_from_probs(0.9), logits_from_probs(0.5)])
    assert fused[0, 1, 0, 0].item() == pytest.approx(0.7, rel=1e-5)
    assert fused.sum(dim=1).flatten().tolist() == pytest.approx([1.0])


def test_probability_distillation_zero_when_identical() -> None:
    logits = torch.randn(2, 2, 3, 3)
    for temperature in (1.0, 2.0):
        loss = probability_distillation_loss(logits, [logits, logits], temperature)
        assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_probability_distillation_hand_computed() -> None:
    student = logits_from_probs(0.5)
    teacher = logits_from_probs(0.9)
    expected = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    assert probability_distillation_loss(student, [teacher]).item() == pytest.approx(
        expected, rel=1e-5
    )
    # T^2 scaling: at T = 2 the softened distributions are recomputed and scaled by 4.
    t = 2.0
    q = torch.softmax(teacher.flatten() / t, 0)
    s = torch.softmax(student.flatten() / t, 0)
    expected_t = t**2 * float((q * (q / s).log()).sum())
    assert probability_distillation_loss(student, [teacher], t).item() == pytest.approx(
        expected_t, rel=1e-5
    )


def test_pseudo_label_loss_thresholds() -> None:
    student = logits_from_probs(0.6, 0.6)
    teacher = fuse_teacher_probabilities([logits_from_probs(0.95, 0.4)])
    # only the first pixel is confident (0.95 >= 0.9), its pseudo label is road
    assert pseudo_label_loss(student, teacher, 0.9).item() == pytest.approx(
        -math.log(0.6), rel=1e-5
    )
    student.requires_grad_()
    none = pseudo_label_loss(student, teacher, 0.99)
    assert none.item() == 0.0
    none.backward()
    assert student.grad is not None and torch.all(student.grad == 0)


def test_pseudo_label_rules_hand_computed() -> None:
    student = logits_from_probs(0.6, 0.6)
    teacher = fuse_teacher_probabilities([logits_from_probs(0.95, 0.4)])
    labels, weights = pseudo_label_weights(teacher, "confidence", 0.9)
    assert labels.flatten().tolist() == [1, 0]
    # (p_max - 1/2) / (1 - 1/2): 0.9 for 0.95 road, 0.2 for 0.6 background
    assert weights.flatten().tolist() == pytest.approx([0.9, 0.2], rel=1e-5)
    # argmax: every pixel counts once; confidence: weighted by the weights above
    argmax = (-math.log(0.6) - math.log(0.4)) / 2
    weighted = (0.9 * -math.log(0.6) + 0.2 * -math.log(0.4)) / 1.1
    assert pseudo_label_loss(student, teacher, 0.9, "argmax").item() == pytest.approx(argmax)
    assert pseudo_label_loss(student, teacher, 0.9, "confidence").item() == pytest.approx(
        weighted, rel=1e-5
    )
    # road where its probability reaches the threshold: 0.4 road is road at 0.3, not at 0.5
    teacher = fuse_teacher_probabilities([logits_from_probs(0.95, 0.4, 0.1)])
    labels, weights = pseudo_label_weights(teacher, "road_threshold", 0.3)
    assert labels.flatten().tolist() == [1, 1, 0]
    assert weights.flatten().tolist() == [1.0, 1.0, 1.0]
    labels, _ = pseudo_label_weights(teacher, "road_threshold", 0.5)
    assert (
        labels.flatten().tolist()
        == pseudo_label_weights(teacher, "argmax", 0.9)[0].flatten().tolist()
    )
    with pytest.raises(ValueError, match="unknown pseudo-label rule"):
        pseudo_label_weights(teacher, "vote", 0.9)


def test_cross_pseudo_supervision_from_another_view() -> None:
    a, b = logits_from_probs(0.8), logits_from_probs(0.4)
    # the pseudo labels come from the other view's logits: both say road here
    view = (logits_from_probs(0.9), logits_from_probs(0.7))
    expected = -math.log(0.8) - math.log(0.4)  # A and B both learn road
    assert cross_pseudo_supervision_loss(a, b, teachers=view).item() == pytest.approx(
        expected, rel=1e-5
    )


def test_cross_pseudo_supervision_hand_computed() -> None:
    a = logits_from_probs(0.8)  # argmax road
    b = logits_from_probs(0.4)  # argmax background
    expected = -math.log(0.2) - math.log(0.4)  # A learns background, B learns road
    assert cross_pseudo_supervision_loss(a, b).item() == pytest.approx(expected, rel=1e-5)
    a.requires_grad_()
    cross_pseudo_supervision_loss(a, b).backward()
    assert a.grad is not None and a.grad.abs().sum() > 0
