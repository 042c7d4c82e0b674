"""The training step shared by every pair that learns by cross pseudo supervision.

The teachers stage (a CNN and a Transformer) and the CPS baseline (two students) differ
only in their networks; both use this step.
"""

import math
from typing import Any

import torch
from torch import Tensor, nn

from ..losses import cross_pseudo_supervision_loss
from .base import RoadTask


def cutmix_masks(count: int, height: int, width: int, device: torch.device) -> Tensor:
    """One random box per image, for CutMix: (count, 1, height, width) booleans.

    Each box covers a quarter to a half of its image, with an aspect ratio between 1:2 and
    2:1 (the range of CPS's CutMix), drawn from torch's generator (seeded by the run).
    """
    area = torch.empty(count).uniform_(0.25, 0.5)
    aspect = torch.empty(count).uniform_(-math.log(2), math.log(2)).exp()
    box_h = ((area * aspect).sqrt() * height).clamp(max=height)
    box_w = ((area / aspect).sqrt() * width).clamp(max=width)
    top = torch.rand(count) * (height - box_h)
    left = torch.rand(count) * (width - box_w)
    rows = torch.arange(height)[None, :, None]
    cols = torch.arange(width)[None, None, :]
    inside = (
        (rows >= top[:, None, None])
        & (rows < (top + box_h)[:, None, None])
        & (cols >= left[:, None, None])
        & (cols < (left + box_w)[:, None, None])
    )
    return inside[:, None].to(device)


def mixed(masks: Tensor, x: Tensor) -> Tensor:
    """``x`` inside each box, the next image of the batch outside it (CutMix)."""
    return torch.where(masks, x, x.roll(1, dims=0))


def cross_supervised_step(
    task: RoadTask,
    net_a: nn.Module,
    net_b: nn.Module,
    batch: dict[str, Any],
    use_unlabeled: bool = True,
) -> Tensor:
    """Supervised loss for both networks plus, after the warm-up, cross supervision.

    From ``warmup_steps`` on (and while ``cps_weight`` > 0), each network also learns
    from the other's argmax, thresholded by ``cps_threshold``, on the labelled and the
    unlabelled tiles. With ``strong_view``, the networks learn on the strong photometric
    view of the unlabelled tiles while the pseudo labels come from the weak view; with
    ``cutmix``, on unlabelled tiles mixed two by two by a random box, against the pseudo
    labels mixed the same way (as in CPS with CutMix). Logs ``train/loss``,
    ``train/loss_sup`` and ``train/loss_cps``.

    Args:
        task: the task, whose hyperparameters hold ``cps_weight``, ``warmup_steps`` and
            ``cps_threshold`` (and optionally ``strong_view`` and ``cutmix``).
        net_a: the first network.
        net_b: the second network.
        batch: a training batch with ``labeled`` and optionally ``unlabeled`` tiles.
        use_unlabeled: learn from the unlabelled tiles (False: labels only).

    Returns:
        The weighted loss.
    """
    hp = task.hparams
    labeled = batch["labeled"]
    x_l, y_l = labeled["image"], labeled["mask"].long()
    n = x_l.shape[0]
    cps_on = use_unlabeled and hp["cps_weight"] > 0 and task.global_step >= hp["warmup_steps"]
    unlabeled = batch.get("unlabeled") if cps_on else None
    x = x_l
    teaching: tuple[Tensor, Tensor] | None = None  # (A's, B's) logits on the weak view
    if unlabeled is not None:
        x_u = unlabeled["image"]
        x_learn = unlabeled.get("image_strong", x_u) if hp.get("strong_view") else x_u
        if hp.get("strong_view") or hp.get("cutmix"):
            with torch.no_grad():
                teaching = (net_a(x_u), net_b(x_u))
            if hp.get("cutmix"):
                h, w = x_u.shape[-2:]
                boxes = cutmix_masks(x_u.shape[0], h, w, x_u.device)
                x_learn = mixed(boxes, x_learn)
                teaching = (mixed(boxes, teaching[0]), mixed(boxes, teaching[1]))
        x = torch.cat([x_l, x_learn])
    logits_a, logits_b = net_a(x), net_b(x)
    loss_sup = task.sup_loss(logits_a[:n], y_l) + task.sup_loss(logits_b[:n], y_l)
    loss_cps = logits_a.new_zeros(())
    if cps_on:
        teacher_a, teacher_b = logits_a, logits_b
        if teaching is not None:
            teacher_a = torch.cat([logits_a[:n].detach(), teaching[0]])
            teacher_b = torch.cat([logits_b[:n].detach(), teaching[1]])
        loss_cps = cross_pseudo_supervision_loss(
            logits_a, logits_b, threshold=hp["cps_threshold"], teachers=(teacher_a, teacher_b)
        )
    loss: Tensor = loss_sup + hp["cps_weight"] * loss_cps
    task.log_dict(
        {"train/loss": loss, "train/loss_sup": loss_sup, "train/loss_cps": loss_cps},
        batch_size=n,
    )
    return loss
