"""Supervised loss on labelled pixels."""

import torch.nn.functional as F
from torch import Tensor

from ..labels import IGNORE_INDEX


def dice_loss(
    logits: Tensor, target: Tensor, ignore_index: int = IGNORE_INDEX, eps: float = 1.0
) -> Tensor:
    """Soft Dice loss of the road class (class 1), over valid pixels.

    Args:
        logits: (B, 2, H, W) class logits.
        target: (B, H, W) labels in {0, 1} or ``ignore_index``.
        ignore_index: label of pixels to leave out.
        eps: smoothing term that keeps an empty image finite.

    Returns:
        A scalar loss in [0, 1].
    """
    valid = (target != ignore_index).float()
    road_prob = logits.float().softmax(dim=1)[:, 1] * valid
    road_true = (target == 1).float() * valid
    intersection = (road_prob * road_true).sum()
    return 1 - (2 * intersection + eps) / (road_prob.sum() + road_true.sum() + eps)


def supervised_loss(
    logits: Tensor, target: Tensor, dice_weight: float = 0.0, ignore_index: int = IGNORE_INDEX
) -> Tensor:
    """L_sup: cross-entropy averaged over valid pixels, plus an optional Dice term.

    Args:
        logits: (B, C, H, W) class logits.
        target: (B, H, W) integer labels.
        dice_weight: weight of the Dice term (0 disables it).
        ignore_index: label of pixels to leave out.

    Returns:
        A scalar loss (zero with a graph if no pixel is valid).
    """
    target = target.long()
    if not (target != ignore_index).any():
        return logits.sum() * 0.0
    loss = F.cross_entropy(logits.float(), target, ignore_index=ignore_index)
    if dice_weight:
        loss = loss + dice_weight * dice_loss(logits, target, ignore_index)
    return loss


__all__ = ["dice_loss", "supervised_loss"]
