"""Baselines under the same data and budget: supervised, Mean Teacher and CPS students."""

import copy
from typing import Any

import torch
from torch import Tensor, nn

from ..losses import probability_distillation_loss
from ..models import ModelConfig, as_model_config, build_model
from .base import DEFAULT_OPTIMIZATION, RoadTask
from .cross_supervision import cross_supervised_step
from .optimization import Optimization
from .student import DEFAULT_STUDENT


class SupervisedStudent(RoadTask):
    """The student trained on labelled tiles only (the lower bound of every table)."""

    def __init__(
        self,
        student: ModelConfig = DEFAULT_STUDENT,
        optim: Optimization = DEFAULT_OPTIMIZATION,
        dice_weight: float = 0.0,
    ) -> None:
        """Initialise the supervised baseline.

        Args:
            student: the network (default DeepLabV3+/MobileNetV2).
            optim: see :class:`RoadTask`.
            dice_weight: see :class:`RoadTask`.
        """
        super().__init__()

    def configure_models(self) -> None:
        """Build the student."""
        self.student_config = as_model_config(self.hparams["student"])
        self.student = build_model(self.student_config)

    def deploy_network(self) -> tuple[nn.Module, ModelConfig]:
        """The student is deployed."""
        return self.student, self.student_config

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Cross-entropy (+ Dice) on the labelled tiles; unlabelled tiles are ignored."""
        labeled = batch["labeled"]
        loss = self.sup_loss(self.student(labeled["image"]), labeled["mask"].long())
        n = labeled["image"].shape[0]
        self.log_dict({"train/loss": loss, "train/loss_sup": loss}, batch_size=n)
        return loss


class MeanTeacherStudent(SupervisedStudent):
    """Mean Teacher: the student follows an exponential moving average of itself.

    The EMA network sees the weak view of unlabelled tiles, the student the strong view;
    their softened distributions are aligned (KL) with weight ``consistency_weight``, ramped
    up over ``rampup_steps``. The EMA network is the one validated and deployed (it is the
    better of the two in Mean Teacher practice); it is saved in checkpoints as ``ema.``.
    """

    def __init__(
        self,
        student: ModelConfig = DEFAULT_STUDENT,
        ema_decay: float = 0.99,
        consistency_weight: float = 1.0,
        rampup_steps: int = 0,
        optim: Optimization = DEFAULT_OPTIMIZATION,
        dice_weight: float = 0.0,
    ) -> None:
        """Initialise the Mean Teacher baseline.

        Args:
            student: the network (default DeepLabV3+/MobileNetV2).
            ema_decay: EMA decay of the teacher copy per step.
            consistency_weight: weight of the consistency loss after the ramp-up.
            rampup_steps: steps of linear ramp-up of the consistency weight.
            optim: see :class:`RoadTask`.
            dice_weight: see :class:`RoadTask`.
        """
        super().__init__()

    def configure_models(self) -> None:
        """Build the student and its EMA copy (never optimised)."""
        super().configure_models()
        self.ema = copy.deepcopy(self.student).requires_grad_(False)

    def deploy_network(self) -> tuple[nn.Module, ModelConfig]:
        """The EMA network is deployed."""
        return self.ema, self.student_config

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Supervised loss plus EMA consistency on unlabelled tiles."""
        labeled = batch["labeled"]
        x_l, y_l = labeled["image"], labeled["mask"].long()
        n = x_l.shape[0]
        unlabeled = batch.get("unlabeled")
        x_s, x_t = x_l, x_l
        if unlabeled is not None:
            x_u = unlabeled["image"]
            x_s = torch.cat([x_l, unlabeled.get("image_strong", x_u)])
            x_t = torch.cat([x_l, x_u])
        logits = self.student(x_s)
        with torch.no_grad():
            ema_logits = self.ema(x_t)
        loss_sup = self.sup_loss(logits[:n], y_l)
        loss_cons = probability_distillation_loss(logits, [ema_logits])
        ramp = self.hparams["rampup_steps"]
        scale = min(1.0, self.global_step / ramp) if ramp > 0 else 1.0
        loss: Tensor = loss_sup + self.hparams["consistency_weight"] * scale * loss_cons
        self.log_dict(
            {"train/loss": loss, "train/loss_sup": loss_sup, "train/loss_consistency": loss_cons},
            batch_size=n,
        )
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Move the EMA copy towards the student after each optimiser step."""
        # Warm start: a smaller decay early on lets the EMA leave its random init quickly.
        decay = min(self.hparams["ema_decay"], (1 + self.global_step) / (10 + self.global_step))
        with torch.no_grad():
            for ema_p, p in zip(self.ema.parameters(), self.student.parameters(), strict=True):
                ema_p.lerp_(p, 1.0 - decay)
            for ema_b, b in zip(self.ema.buffers(), self.student.buffers(), strict=True):
                ema_b.copy_(b)


class CPSStudents(RoadTask):
    """Cross pseudo supervision between two students of the same architecture.

    The two differ only by their random initialisation; student A is validated and
    deployed.
    """

    def __init__(
        self,
        student: ModelConfig = DEFAULT_STUDENT,
        cps_weight: float = 1.5,
        warmup_steps: int = 0,
        cps_threshold: float = 0.0,
        strong_view: bool = False,
        cutmix: bool = False,
        optim: Optimization = DEFAULT_OPTIMIZATION,
        dice_weight: float = 0.0,
    ) -> None:
        """Initialise the CPS baseline.

        Args:
            student: architecture of both students.
            cps_weight: weight of the cross pseudo supervision loss.
            warmup_steps: supervised-only steps before cross supervision starts.
            cps_threshold: confidence below which a pseudo label is ignored.
            strong_view: see :class:`~roadkd.tasks.CrossModelTeachers`.
            cutmix: see :class:`~roadkd.tasks.CrossModelTeachers`.
            optim: see :class:`RoadTask`.
            dice_weight: see :class:`RoadTask`.
        """
        super().__init__()

    def configure_models(self) -> None:
        """Build two differently initialised students."""
        self.student_config = as_model_config(self.hparams["student"])
        self.student_a = build_model(self.student_config)
        self.student_b = build_model(self.student_config)

    def deploy_network(self) -> tuple[nn.Module, ModelConfig]:
        """Student A is deployed."""
        return self.student_a, self.student_config

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Supervised loss for both plus cross supervision on all tiles after the warm-up."""
        return cross_supervised_step(self, self.student_a, self.student_b, batch)
