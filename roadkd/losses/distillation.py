"""Distillation losses of SSLKD: features, probabilities and pseudo labels.

All are pure functions of tensors, computed in float32 so that they are safe under AMP.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..labels import ROAD

#: Fused teacher confidence a pixel needs to get a pseudo label (roadkd's default: no source
#: we can read gives the authors' value). The SSLKD student, the diagnostics and the
#: experiment runner share it.
PSEUDO_LABEL_THRESHOLD = 0.9
#: How fused teacher probabilities become pseudo labels (:func:`pseudo_label_weights`).
PSEUDO_LABEL_RULES = ("threshold", "argmax", "confidence", "road_threshold")


class FeatureAdapter(nn.Module):
    """A 1x1 convolution + batch norm mapping student features to a teacher's channels."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        """Initialise the adapter.

        Args:
            in_channels: channels of the student's feature map.
            out_channels: channels of the teacher's feature map.
        """
        super().__init__()
        self.proj = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Project (B, C_s, h, w) student features to (B, C_t, h, w)."""
        out: Tensor = self.proj(x)
        return out


def feature_distillation_loss(student_features: Tensor, teacher_features: Tensor) -> Tensor:
    """L_dis^f for one teacher: squared distance of per-pixel L2-normalised features.

    Normalising over channels at each pixel makes CNN and Transformer features, whose
    scales differ by orders of magnitude, comparable. The squared distance is summed over
    channels and averaged over pixels, so the term lies in [0, 4] whatever the channel
    count: an element-wise mean would divide it by the channels (2048 for a ResNet-50)
    and leave it, and its gradient, too small to matter next to the cross-entropy.

    Args:
        student_features: (B, C, h_s, w_s) adapted student features (C = teacher channels).
        teacher_features: (B, C, h_t, w_t) teacher features (no gradient needed).

    Returns:
        A scalar loss; 0 when the maps agree up to a positive per-pixel scale, 2 for
        orthogonal features, 4 for opposite ones.
    """
    student = student_features.float()
    teacher = teacher_features.detach().float()
    if student.shape[-2:] != teacher.shape[-2:]:
        student = F.interpolate(
            student, size=teacher.shape[-2:], mode="bilinear", align_corners=False
        )
    difference = F.normalize(student, dim=1) - F.normalize(teacher, dim=1)
    return difference.square().sum(dim=1).mean()


def fuse_teacher_probabilities(
    teacher_logits: Sequence[Tensor], temperature: float = 1.0
) -> Tensor:
    """Mean of the teachers' softened class probabilities, softmax(logits / T).

    Args:
        teacher_logits: one (B, C, H, W) logit map per teacher.
        temperature: softening temperature T.

    Returns:
        (B, C, H, W) probabilities (detached).
    """
    probs = [(t.detach().float() / temperature).softmax(dim=1) for t in teacher_logits]
    return torch.stack(probs).mean(dim=0)


def probability_distillation_loss(
    student_logits: Tensor,
    teacher_logits: Sequence[Tensor],
    temperature: float = 1.0,
    mask: Tensor | None = None,
) -> Tensor:
    """L_dis^p: T^2 * KL(p_T(teacher_avg) || p_T(student)), averaged over pixels.

    Args:
        student_logits: (B, C, H, W) student logits.
        teacher_logits: one (B, C, H, W) logit map per teacher.
        temperature: softening temperature T.
        mask: optional (B, H, W) boolean map of pixels to include.

    Returns:
        A scalar loss; 0 when student and fused teacher distributions agree.
    """
    target = fuse_teacher_probabilities(teacher_logits, temperature)
    log_student = F.log_softmax(student_logits.float() / temperature, dim=1)
    kl = (target * (torch.log(target.clamp_min(1e-8)) - log_student)).sum(dim=1)
    if mask is not None:
        kl = kl[mask]
        if kl.numel() == 0:
            return student_logits.sum() * 0.0
    return temperature**2 * kl.mean()


def pseudo_label_weights(
    teacher_probs: Tensor, rule: str, threshold: float
) -> tuple[Tensor, Tensor]:
    """Pseudo labels and the weight each pixel's label gets, by the fusion rule.

    Rules (the authors' code family uses each): ``"threshold"``, the argmax where the fused
    confidence reaches ``threshold`` (weight 1) and nothing elsewhere; ``"argmax"``, the
    argmax everywhere (as CPS); ``"confidence"``, the argmax weighted by how far its
    confidence is above chance, (p_max - 1/C) / (1 - 1/C); ``"road_threshold"``, road where
    the fused road probability reaches ``threshold`` and background elsewhere, every pixel
    with weight 1 (argmax is ``"road_threshold"`` at 0.5): teachers trained on scenes that
    are mostly background under-call road, and a road threshold below 0.5 counters that as
    a class-wise threshold does.

    Args:
        teacher_probs: (B, C, H, W) fused teacher probabilities.
        rule: one of :data:`PSEUDO_LABEL_RULES`.
        threshold: confidence a pixel needs under ``"threshold"``; road probability a
            pixel needs to be labelled road under ``"road_threshold"``.

    Returns:
        (B, H, W) labels (int64) and (B, H, W) float32 weights in [0, 1].

    Raises:
        ValueError: for an unknown rule.
    """
    confidence, labels = teacher_probs.detach().float().max(dim=1)
    if rule == "threshold":
        weights = (confidence >= threshold).float()
    elif rule == "argmax":
        weights = torch.ones_like(confidence)
    elif rule == "confidence":
        chance = 1.0 / teacher_probs.shape[1]
        weights = ((confidence - chance) / (1.0 - chance)).clamp(0.0, 1.0)
    elif rule == "road_threshold":
        labels = (teacher_probs.detach()[:, ROAD].float() >= threshold).long()
        weights = torch.ones_like(confidence)
    else:
        raise ValueError(f"unknown pseudo-label rule {rule!r} (known: {PSEUDO_LABEL_RULES})")
    return labels, weights


def pseudo_label_loss(
    student_logits: Tensor, teacher_probs: Tensor, threshold: float, rule: str = "threshold"
) -> Tensor:
    """L_unsup: cross-entropy against the fused teachers' argmax, weighted by ``rule``.

    Args:
        student_logits: (B, C, H, W) student logits.
        teacher_probs: (B, C, H, W) fused teacher probabilities.
        threshold: minimum teacher confidence (max probability) for a pixel to count
            under the ``"threshold"`` rule.
        rule: how pseudo labels are weighted (:func:`pseudo_label_weights`).

    Returns:
        A scalar loss, the weighted mean over pixels (the mean over confident pixels under
        ``"threshold"``); 0 (with a graph) if every weight is 0.
    """
    labels, weights = pseudo_label_weights(teacher_probs, rule, threshold)
    total = weights.sum()
    if total <= 0:
        return student_logits.sum() * 0.0
    ce = F.cross_entropy(student_logits.float(), labels, reduction="none")
    return (ce * weights).sum() / total


def cross_pseudo_supervision_loss(
    logits_a: Tensor,
    logits_b: Tensor,
    threshold: float = 0.0,
    teachers: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """Cross pseudo supervision: each network learns from the other's confident argmax.

    Args:
        logits_a: (B, C, H, W) logits of network A.
        logits_b: (B, C, H, W) logits of network B.
        threshold: minimum confidence of the teaching network for a pixel to count.
        teachers: the logits (A's, B's) that make the pseudo labels, when they come from
            another view than the one learned on (weak view, CutMix); default: the
            learners' own logits.

    Returns:
        CE(A, argmax B) + CE(B, argmax A), each averaged over its confident pixels.
    """
    teach_a, teach_b = teachers if teachers is not None else (logits_a, logits_b)
    probs_a = teach_a.detach().float().softmax(dim=1)
    probs_b = teach_b.detach().float().softmax(dim=1)
    return pseudo_label_loss(logits_a, probs_b, threshold) + pseudo_label_loss(
        logits_b, probs_a, threshold
    )
