"""The teachers stage: two different networks trained with cross pseudo supervision."""

from typing import Any

from torch import Tensor, nn

from ..metrics.pixel import RoadMetrics
from ..models import ModelConfig, as_model_config, build_model
from .base import DEFAULT_OPTIMIZATION, RoadTask
from .cross_supervision import cross_supervised_step
from .optimization import Optimization

DEFAULT_TEACHER_A = ModelConfig(arch="DeepLabV3Plus", encoder="resnet50")
DEFAULT_TEACHER_B = ModelConfig(arch="Segformer", encoder="mit_b2")


class CrossModelTeachers(RoadTask):
    """Train a CNN and a Transformer teacher together (cross-model semi-supervised learning).

    Both learn from the labels; after ``warmup_steps`` each also learns from the other's
    confident argmax on labelled and unlabelled tiles, weighted by ``cps_weight``. With
    ``use_unlabeled: false`` the unlabelled tiles are ignored (the plain-KD baseline's
    teachers). The deployed network is teacher A, but both teachers go on to teach: each is
    scored (``val/teacher_a/road_iou``, ``val/teacher_b/road_iou``, ...) and ``val/road_iou``
    (like every ``val/<score>``) is their mean, so the best checkpoint is chosen by both.
    """

    def __init__(
        self,
        teacher_a: ModelConfig = DEFAULT_TEACHER_A,
        teacher_b: ModelConfig = DEFAULT_TEACHER_B,
        cps_weight: float = 1.5,
        warmup_steps: int = 3500,
        cps_threshold: float = 0.0,
        use_unlabeled: bool = True,
        strong_view: bool = False,
        cutmix: bool = False,
        optim: Optimization = DEFAULT_OPTIMIZATION,
        dice_weight: float = 0.0,
    ) -> None:
        """Initialise the teachers task.

        Args:
            teacher_a: the first teacher (default DeepLabV3+/ResNet-50, a CNN); deployed.
            teacher_b: the second teacher (default SegFormer/MiT-B2, a Transformer).
            cps_weight: weight of the cross pseudo supervision loss.
            warmup_steps: supervised-only steps before cross supervision starts.
            cps_threshold: confidence below which a pseudo label is ignored (0: keep all).
            use_unlabeled: learn from unlabelled tiles (False: labels only).
            strong_view: learn on the strong photometric view of unlabelled tiles, with
                pseudo labels from the weak view.
            cutmix: learn on unlabelled tiles mixed two by two by a random box, with the
                pseudo labels mixed the same way (CPS with CutMix).
            optim: see :class:`RoadTask`.
            dice_weight: see :class:`RoadTask`.
        """
        super().__init__()

    def configure_models(self) -> None:
        """Build both teachers from scratch (or from their configured weights)."""
        self.config_a = as_model_config(self.hparams["teacher_a"])
        self.config_b = as_model_config(self.hparams["teacher_b"])
        self.teacher_a = build_model(self.config_a)
        self.teacher_b = build_model(self.config_b)

    def configure_metrics(self) -> None:
        """Score both teachers: ``val_metrics`` is teacher A's, ``val_metrics_b`` B's."""
        super().configure_metrics()
        self.val_metrics_b = RoadMetrics()

    def deploy_network(self) -> tuple[nn.Module, ModelConfig]:
        """Teacher A is the deployed network of the teachers stage."""
        return self.teacher_a, self.config_a

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Supervised loss for both teachers plus, after the warm-up, cross supervision."""
        return cross_supervised_step(
            self, self.teacher_a, self.teacher_b, batch, self.hparams["use_unlabeled"]
        )

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """Validate teacher A (``val_metrics``) and teacher B (``val_metrics_b``)."""
        loss = super().validation_step(batch, batch_idx)
        logits_b = self.teacher_b(batch["image"])
        self.val_metrics_b.update(logits_b.argmax(dim=1), batch["mask"].long())
        return loss

    def on_validation_epoch_end(self) -> None:
        """Log each teacher's validation scores and their mean (``val/road_iou``, ...)."""
        scores_a, scores_b = self.val_metrics.compute(), self.val_metrics_b.compute()
        logged = {f"val/teacher_a/{k}": v for k, v in scores_a.items()}
        logged |= {f"val/teacher_b/{k}": v for k, v in scores_b.items()}
        logged |= {f"val/{k}": (scores_a[k] + scores_b[k]) / 2 for k in scores_a}
        self.log_dict(logged, sync_dist=True)
        self.val_metrics.reset()
        self.val_metrics_b.reset()
