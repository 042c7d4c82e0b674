"""The training step shared by every pair that learns by cross pseudo supervision.

The teachers stage (a CNN and a Transformer) and the CPS baseline (two students) differ
only in their networks; both use this step.
"""

from typing import Any

import torch
from torch import Tensor, nn

from ..losses import cross_pseudo_supervision_loss
from .base import RoadTask


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
    unlabelled tiles. Logs ``train/loss``, ``train/loss_sup`` and ``train/loss_cps``.

    Args:
        task: the task, whose hyperparameters hold ``cps_weight``, ``warmup_steps`` and
            ``cps_threshold``.
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
    x = x_l
    unlabeled = batch.get("unlabeled")
    if cps_on and unlabeled is not None:
        x = torch.cat([x_l, unlabeled["image"]])
    logits_a, logits_b = net_a(x), net_b(x)
    loss_sup = task.sup_loss(logits_a[:n], y_l) + task.sup_loss(logits_b[:n], y_l)
    loss_cps = logits_a.new_zeros(())
    if cps_on:
        loss_cps = cross_pseudo_supervision_loss(logits_a, logits_b, threshold=hp["cps_threshold"])
    loss: Tensor = loss_sup + hp["cps_weight"] * loss_cps
    task.log_dict(
        {"train/loss": loss, "train/loss_sup": loss_sup, "train/loss_cps": loss_cps},
        batch_size=n,
    )
    return loss
