"""The base of every roadkd task: optimiser, poly schedule, metrics and the deploy bundle."""

from abc import abstractmethod
from typing import Any

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from torch import Tensor, nn
from torchgeo.tasks import BaseTask

from ..losses import supervised_loss
from ..metrics.pixel import RoadMetrics
from ..models import DeployBundle, ModelConfig
from ..models.deploy import CHECKPOINT_KEY, DataFacts, require_data_facts
from .optimization import Optimization

#: The authors' recipe (SGD, momentum 0.9, lr 0.01 heads / 0.001 encoders, poly 0.9).
DEFAULT_OPTIMIZATION = Optimization()


def _datamodule(trainer: Trainer | None) -> object:
    """The trainer's datamodule (Lightning attaches it at run time), or None."""
    return getattr(trainer, "datamodule", None)


class RoadTask(BaseTask):
    """Shared machinery of roadkd's LightningModules.

    Subclasses build their networks in :meth:`configure_models`, compute the training loss
    in :meth:`training_step` and name the network to deploy in :meth:`deploy_network`.
    Validation and testing score that network with :class:`RoadMetrics`; the best
    checkpoint is chosen by ``val/road_iou``.
    """

    ignore = None
    monitor = "val/road_iou"
    mode = "max"

    def __init__(
        self, optim: Optimization = DEFAULT_OPTIMIZATION, dice_weight: float = 0.0
    ) -> None:
        """Initialise the shared hyperparameters.

        Args:
            optim: optimiser settings (:class:`Optimization`; a mapping of its fields works
                too, as checkpoints store them).
            dice_weight: weight of the Dice term added to the supervised cross-entropy.
        """
        super().__init__()
        # Checkpoints keep plain data: no roadkd class has to be unpickled to read them.
        self.hparams["optim"] = Optimization.of(self.hparams["optim"]).to_dict()

    @abstractmethod
    def deploy_network(self) -> tuple[nn.Module, ModelConfig]:
        """Return the network users deploy and its config."""

    def forward(self, x: Tensor) -> Tensor:
        """Return the deployed network's logits (B, 2, H, W) for a normalised batch."""
        model, _ = self.deploy_network()
        logits: Tensor = model(x)
        return logits

    def configure_losses(self) -> None:
        """Nothing to build: the losses in :mod:`roadkd.losses` are pure functions."""

    def configure_metrics(self) -> None:
        """Build the validation and test metrics."""
        self.val_metrics = RoadMetrics()
        self.test_metrics = RoadMetrics()

    def sup_loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Supervised loss (CE + optional Dice) with this task's settings."""
        return supervised_loss(logits, target, dice_weight=self.hparams["dice_weight"])

    # -- optimisation ---------------------------------------------------------------------

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        """The task's :class:`Optimization` over backbone (encoder) and head parameters."""
        backbone: list[nn.Parameter] = []
        heads: list[nn.Parameter] = []
        for name, param in self.named_parameters():
            if not param.requires_grad:
                continue  # frozen teachers and EMA copies are never optimised
            (backbone if ".encoder." in f".{name}" else heads).append(param)
        settings = Optimization.of(self.hparams["optim"])
        total = settings.max_iterations
        if total is None:
            estimated = self.trainer.estimated_stepping_batches
            total = int(estimated) if estimated != float("inf") else 0
        optimizer, scheduler = settings.build(backbone, heads, total)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    # -- evaluation -----------------------------------------------------------------------

    def _shared_step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        """Score the deployed network on a val/test batch and update the stage's metrics."""
        logits = self(batch["image"])
        mask = batch["mask"].long()
        loss = self.sup_loss(logits, mask)
        self.log(f"{stage}/loss", loss, batch_size=mask.shape[0], sync_dist=True)
        metrics = self.val_metrics if stage == "val" else self.test_metrics
        metrics.update(logits.argmax(dim=1), mask)
        return loss

    def _log_metrics(self, stage: str) -> None:
        metrics = self.val_metrics if stage == "val" else self.test_metrics
        scores = metrics.compute()
        self.log_dict({f"{stage}/{k}": v for k, v in scores.items()}, sync_dist=True)
        metrics.reset()

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """Validate the deployed network."""
        return self._shared_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        """Log ``val/road_iou``, ``val/miou``, ... for the epoch."""
        self._log_metrics("val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """Test the deployed network."""
        return self._shared_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        """Log ``test/road_iou``, ``test/miou``, ... for the epoch."""
        self._log_metrics("test")

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """Return road probabilities (B, H, W) of the deployed network."""
        return torch.softmax(self(batch["image"]), dim=1)[:, -1]

    # -- checkpoints ----------------------------------------------------------------------

    #: The training data's facts, read from the datamodule when fitting starts.
    data_facts: DataFacts | None = None

    def on_fit_start(self) -> None:
        """Read the datamodule's data facts now: a missing one fails before any training."""
        self.data_facts = require_data_facts(_datamodule(self._trainer))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the deploy bundle, with the training data's facts, in the checkpoint.

        Raises:
            RoadkdError: if the facts are unknown (no fit started and none were set).
        """
        model, config = self.deploy_network()
        if self.data_facts is None:
            self.data_facts = require_data_facts(_datamodule(self._trainer))
        bundle = DeployBundle.of(
            model, config, self.data_facts, extra={"task": type(self).__name__}
        )
        checkpoint[CHECKPOINT_KEY] = bundle.to_checkpoint_entry()
