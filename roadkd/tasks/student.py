"""The SSLKD student stage: a light network distilled from two frozen teachers."""

from typing import Any

import torch
from torch import Tensor, nn

from ..errors import RoadkdError
from ..losses import (
    PSEUDO_LABEL_RULES,
    PSEUDO_LABEL_THRESHOLD,
    FeatureAdapter,
    feature_distillation_loss,
    fuse_teacher_probabilities,
    probability_distillation_loss,
    pseudo_label_loss,
)
from ..models import (
    ModelConfig,
    as_model_config,
    build_model,
    encoder_channels,
    forward_with_features,
    load_frozen_teachers,
)
from .base import DEFAULT_OPTIMIZATION, RoadTask
from .optimization import Optimization

DEFAULT_STUDENT = ModelConfig(arch="DeepLabV3Plus", encoder="mobilenet_v2")


def gradient_norm(loss: Tensor, params: list[nn.Parameter], scale: float = 1.0) -> Tensor:
    """The L2 norm of ``loss``'s gradient on ``params``, without touching their ``.grad``.

    Args:
        loss: a scalar with a graph (the graph is kept for the real backward pass).
        params: the parameters to differentiate against.
        scale: multiply the loss by this before differentiating and divide the norm by it
            after (the AMP grad scaler's scale, so half-precision gradients do not
            underflow).

    Returns:
        A detached scalar; 0 if ``loss`` does not depend on ``params``.
    """
    if not loss.requires_grad:
        return loss.new_zeros(()).detach()
    grads = torch.autograd.grad(loss * scale, params, retain_graph=True, allow_unused=True)
    norms = [g.detach().float().norm() for g in grads if g is not None]
    return torch.stack(norms).norm() / scale if norms else loss.new_zeros(()).detach()


class SSLKDStudent(RoadTask):
    """Distil a light student from two frozen teachers (SSLKD).

    ``L = w_sup L_sup + w_feat L_dis^f + w_prob L_dis^p + w_unsup L_unsup``, each term
    logged as ``train/loss_sup``, ``train/loss_feat``, ``train/loss_prob``,
    ``train/loss_unsup``. The teachers come from ``teachers_checkpoint``; they stay in eval
    mode, get no gradients and are not optimised. Their weights are also saved in the
    student's checkpoints (under ``teachers.``) so a run resumes without the teachers file
    having to match. One 1x1-conv adapter per teacher and feature layer is trained with the
    student. The plain-KD baseline is this task with ``use_unlabeled: false`` on teachers
    trained with labels only.
    """

    def __init__(
        self,
        teachers_checkpoint: str,
        student: ModelConfig = DEFAULT_STUDENT,
        sup_weight: float = 1.0,
        feature_weight: float = 1.0,
        prob_weight: float = 1.0,
        unsup_weight: float = 1.0,
        temperature: float = 1.0,
        threshold: float = PSEUDO_LABEL_THRESHOLD,
        pseudo_labels: str = "threshold",
        feature_layers: list[int] | None = None,
        use_unlabeled: bool = True,
        strong_view: bool = True,
        optim: Optimization = DEFAULT_OPTIMIZATION,
        dice_weight: float = 0.0,
        log_grad_norms: bool = True,
    ) -> None:
        """Initialise the student task.

        Args:
            teachers_checkpoint: ``.ckpt`` of a :class:`CrossModelTeachers` run.
            student: the student network (default DeepLabV3+/MobileNetV2).
            sup_weight: weight of the supervised loss.
            feature_weight: weight of the feature distillation loss (sum over teachers).
            prob_weight: weight of the probability (KL) distillation loss.
            unsup_weight: weight of the pseudo-label loss on unlabelled tiles.
            temperature: softening temperature of the probability distillation.
            threshold: teacher confidence needed for a pseudo label (``"threshold"`` rule);
                road probability needed for a road label (``"road_threshold"``).
            pseudo_labels: how the fused teachers' probabilities become L_unsup's labels:
                ``"threshold"`` (confident argmax), ``"argmax"`` (every pixel, as CPS),
                ``"confidence"`` (argmax weighted by confidence) or ``"road_threshold"``
                (road where its probability reaches ``threshold``); see
                :func:`~roadkd.losses.pseudo_label_weights`.
            feature_layers: encoder feature indices aligned with the teachers (default
                ``[-1]``, the deepest).
            use_unlabeled: use unlabelled tiles (False: distil on labelled tiles only).
            strong_view: the student sees the strong photometric view of unlabelled tiles
                while the teachers see the weak one.
            optim: see :class:`RoadTask`.
            dice_weight: see :class:`RoadTask`.
            log_grad_norms: every ``log_every_n_steps`` steps, log the gradient norms of
                L_sup and L_dis^f on the student (``train/grad_norm_sup``,
                ``train/grad_norm_feat``).
        """
        if pseudo_labels not in PSEUDO_LABEL_RULES:
            raise RoadkdError(
                f"pseudo_labels must be one of {', '.join(PSEUDO_LABEL_RULES)}, "
                f"got {pseudo_labels!r}"
            )
        super().__init__()

    def configure_models(self) -> None:
        """Build the student and adapters, and load the frozen teachers."""
        self.layers = list(self.hparams["feature_layers"] or [-1])
        self.student_config = as_model_config(self.hparams["student"])
        self.student = build_model(self.student_config)
        teachers = load_frozen_teachers(self.hparams["teachers_checkpoint"])
        self.teachers = nn.ModuleList([model for model, _ in teachers])
        s_channels = encoder_channels(self.student)
        self.adapters = nn.ModuleDict()
        for t, teacher in enumerate(self.teachers):
            t_channels = encoder_channels(teacher)
            for layer in self.layers:
                self.adapters[f"t{t}_l{layer}"] = FeatureAdapter(
                    s_channels[layer], t_channels[layer]
                )

    def train(self, mode: bool = True) -> "SSLKDStudent":
        """Switch modes, keeping the frozen teachers in eval mode (BN statistics fixed)."""
        super().train(mode)
        self.teachers.eval()
        return self

    def deploy_network(self) -> tuple[nn.Module, ModelConfig]:
        """The student is the deployed network."""
        return self.student, self.student_config

    def loss_terms(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """The four unweighted SSLKD terms of a training batch.

        Args:
            batch: a training batch (``labeled`` and optionally ``unlabeled``).

        Returns:
            ``{"sup", "feat", "prob", "unsup"}`` scalar losses, with graphs to the student.
        """
        hp = self.hparams
        labeled = batch["labeled"]
        x_l, y_l = labeled["image"], labeled["mask"].long()
        n = x_l.shape[0]
        x_teacher, x_student = x_l, x_l
        unlabeled = batch.get("unlabeled") if hp["use_unlabeled"] else None
        if unlabeled is not None:
            x_u = unlabeled["image"]
            x_u_s = unlabeled.get("image_strong", x_u) if hp["strong_view"] else x_u
            x_teacher, x_student = torch.cat([x_l, x_u]), torch.cat([x_l, x_u_s])

        with torch.no_grad():
            teacher_out = [forward_with_features(t, x_teacher, self.layers) for t in self.teachers]
        teacher_logits = [logits for logits, _ in teacher_out]
        logits, s_feats = forward_with_features(self.student, x_student, self.layers)

        loss_sup = self.sup_loss(logits[:n], y_l)
        loss_feat = logits.new_zeros(())
        for t, (_, t_feats) in enumerate(teacher_out):
            for i, layer in enumerate(self.layers):
                adapted = self.adapters[f"t{t}_l{layer}"](s_feats[i])
                loss_feat = loss_feat + feature_distillation_loss(adapted, t_feats[i])
        loss_prob = probability_distillation_loss(
            logits, teacher_logits, temperature=hp["temperature"]
        )
        loss_unsup = logits.new_zeros(())
        if unlabeled is not None:
            probs = fuse_teacher_probabilities([t[n:] for t in teacher_logits])
            loss_unsup = pseudo_label_loss(
                logits[n:], probs, hp["threshold"], hp.get("pseudo_labels", "threshold")
            )
        return {"sup": loss_sup, "feat": loss_feat, "prob": loss_prob, "unsup": loss_unsup}

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Compute and log the four SSLKD terms and their weighted sum.

        Every ``log_every_n_steps`` steps (with ``log_grad_norms``) it also logs the
        gradient norms of L_sup and L_dis^f on the student's parameters, so one can see
        whether the feature term pulls with a weight comparable to the labels'.
        """
        hp = self.hparams
        terms = self.loss_terms(batch)
        loss: Tensor = (
            hp["sup_weight"] * terms["sup"]
            + hp["feature_weight"] * terms["feat"]
            + hp["prob_weight"] * terms["prob"]
            + hp["unsup_weight"] * terms["unsup"]
        )
        n = batch["labeled"]["image"].shape[0]
        logged = {"train/loss": loss} | {f"train/loss_{k}": v for k, v in terms.items()}
        if self._grad_norms_due():
            params = [p for p in self.student.parameters() if p.requires_grad]
            scaler = getattr(self.trainer.precision_plugin, "scaler", None)
            scale = float(scaler.get_scale()) if scaler is not None else 1.0
            logged["train/grad_norm_sup"] = gradient_norm(terms["sup"], params, scale)
            logged["train/grad_norm_feat"] = gradient_norm(terms["feat"], params, scale)
        self.log_dict(logged, batch_size=n)
        return loss

    def _grad_norms_due(self) -> bool:
        """Whether this step logs gradient norms (cheap: two extra student backward passes).

        Skipped under multi-process training, where an extra backward pass would confuse
        DistributedDataParallel's gradient synchronisation.
        """
        trainer = self._trainer
        if not self.hparams["log_grad_norms"] or trainer is None or trainer.world_size > 1:
            return False
        every = int(getattr(trainer, "log_every_n_steps", 0) or 0)
        # the steps whose logged values reach the loggers (Lightning counts from 1)
        return every > 0 and (self.global_step + 1) % every == 0
