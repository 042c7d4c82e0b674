"""SSLKD losses: pure functions of tensors (and one small adapter module), no Lightning."""

from .distillation import (
    PSEUDO_LABEL_RULES,
    PSEUDO_LABEL_THRESHOLD,
    FeatureAdapter,
    cross_pseudo_supervision_loss,
    feature_distillation_loss,
    fuse_teacher_probabilities,
    probability_distillation_loss,
    pseudo_label_loss,
    pseudo_label_weights,
)
from .supervised import dice_loss, supervised_loss

__all__ = [
    "PSEUDO_LABEL_RULES",
    "PSEUDO_LABEL_THRESHOLD",
    "FeatureAdapter",
    "cross_pseudo_supervision_loss",
    "dice_loss",
    "feature_distillation_loss",
    "fuse_teacher_probabilities",
    "probability_distillation_loss",
    "pseudo_label_loss",
    "pseudo_label_weights",
    "supervised_loss",
]
