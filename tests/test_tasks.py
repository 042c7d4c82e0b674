"""Tasks: every task trains on generated tensors; the student leaves its teachers untouched.

``TinyRoadDataModule`` follows the batch contract of docs/architecture.md with random
stripe "roads" so the tasks can be exercised without rasters; the CLI tests import it too.
"""

from pathlib import Path
from typing import Any

import pytest
import torch
from lightning.pytorch import LightningDataModule, Trainer
from torch.utils.data import DataLoader, Dataset

from roadkd.errors import RoadkdError
from roadkd.models import ModelConfig, load_bundle
from roadkd.models.deploy import DataFacts
from roadkd.tasks import (
    CPSStudents,
    CrossModelTeachers,
    MeanTeacherStudent,
    SSLKDStudent,
    SupervisedStudent,
)
from roadkd.tasks.base import poly_factor

TINY_A = ModelConfig(
    arch="Unet", encoder="resnet18", kwargs={"encoder_depth": 3, "decoder_channels": [16, 8, 4]}
)
TINY_B = ModelConfig(
    arch="Segformer", encoder="mit_b0", kwargs={"decoder_segmentation_channels": 16}
)


def _scene(size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A noisy image with bright horizontal/vertical stripes (roads) and their mask."""
    mask = torch.zeros(size, size, dtype=torch.long)
    for _ in range(2):
        pos = int(torch.randint(2, size - 6, (1,), generator=generator))
        if torch.rand(1, generator=generator) < 0.5:
            mask[pos : pos + 4] = 1
        else:
            mask[:, pos : pos + 4] = 1
    image = torch.randn(3, size, size, generator=generator) * 0.5 + mask * 1.5 - 0.5
    return image, mask


class _Tiles(Dataset[dict[str, Any]]):
    def __init__(self, n: int, size: int, seed: int, split: str) -> None:
        self.n, self.size, self.seed, self.split = n, size, seed, split

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, Any]:
        g = torch.Generator().manual_seed(self.seed * 1000 + i)
        image, mask = _scene(self.size, g)
        if self.split != "train":
            return {"image": image, "mask": mask}
        u_image, _ = _scene(self.size, g)
        strong = u_image * 1.1 + 0.1 * torch.randn(u_image.shape, generator=g)
        return {
            "labeled": {"image": image, "mask": mask},
            "unlabeled": {"image": u_image, "image_strong": strong},
        }


class TinyRoadDataModule(LightningDataModule):
    """Random stripe tiles in the RoadDataModule batch contract (already normalised)."""

    def __init__(self, patch_size: int = 32, batch_size: int = 2, length: int = 8) -> None:
        super().__init__()
        self.patch_size, self.batch_size, self.length = patch_size, batch_size, length
        self.mean = (0.5, 0.5, 0.5)
        self.std = (0.25, 0.25, 0.25)

    def data_facts(self) -> DataFacts:
        return DataFacts(self.mean, self.std, self.patch_size, resolution_m=0.3)

    def train_dataloader(self) -> DataLoader[dict[str, Any]]:
        return DataLoader(
            _Tiles(self.length, self.patch_size, 0, "train"), batch_size=self.batch_size
        )

    def val_dataloader(self) -> DataLoader[dict[str, Any]]:
        return DataLoader(_Tiles(4, self.patch_size, 1, "val"), batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader[dict[str, Any]]:
        return DataLoader(_Tiles(4, self.patch_size, 2, "test"), batch_size=self.batch_size)


def _trainer(tmp_path: Path, steps: int) -> Trainer:
    return Trainer(
        max_epochs=1,
        limit_train_batches=steps,
        limit_val_batches=1,
        accelerator="cpu",
        default_root_dir=tmp_path,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


OPT = {"optimizer": "adamw", "lr": 1e-3, "backbone_lr": None}


@pytest.fixture(scope="module")
def teachers_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("teachers") / "teachers.ckpt"
    task = CrossModelTeachers(teacher_a=TINY_A, teacher_b=TINY_B, warmup_steps=1, **OPT)
    trainer = _trainer(path.parent, 2)
    trainer.fit(task, datamodule=TinyRoadDataModule())
    trainer.save_checkpoint(path)
    return path


def test_poly_factor() -> None:
    assert poly_factor(0, 10, 0.9) == 1.0
    assert poly_factor(10, 10, 0.9) == 0.0
    assert 0.5 < poly_factor(5, 10, 0.9) < 0.6
    assert poly_factor(3, 0, 0.9) == 1.0


def test_teachers_checkpoint_holds_deploy_bundle(teachers_ckpt: Path) -> None:
    bundle = load_bundle(teachers_ckpt)
    assert bundle.config.arch == "Unet"  # teacher A is deployed
    assert bundle.mean == (0.5, 0.5, 0.5)
    assert bundle.tile_size == 32
    assert bundle.resolution_m == 0.3  # the datamodule's, not a default
    out = bundle.model(torch.zeros(1, 3, 32, 32))
    assert out.shape == (1, 2, 32, 32)


def test_student_leaves_teachers_bit_identical(teachers_ckpt: Path, tmp_path: Path) -> None:
    task = SSLKDStudent(
        teachers_checkpoint=str(teachers_ckpt), student=TINY_A, threshold=0.0, **OPT
    )
    before = {k: v.clone() for k, v in task.teachers.state_dict().items()}
    student_before = [p.clone() for p in task.student.parameters()]
    _trainer(tmp_path, 3).fit(task, datamodule=TinyRoadDataModule())
    after = task.teachers.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():  # BN running stats included: teachers stay in eval
        assert torch.equal(value, after[key]), key
    assert not any(m.training for m in task.teachers[0].modules())
    assert all(not p.requires_grad for p in task.teachers.parameters())
    assert any(
        not torch.equal(a, b)
        for a, b in zip(student_before, task.student.parameters(), strict=True)
    )
    optimizer = task.optimizers().optimizer
    optimised = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert not optimised & {id(p) for p in task.teachers.parameters()}
    logged = task.trainer.logged_metrics
    for name in (
        "train/loss_sup",
        "train/loss_feat",
        "train/loss_prob",
        "train/loss_unsup",
        "val/road_iou",
    ):
        assert name in logged


def test_student_rejects_missing_teachers(tmp_path: Path) -> None:
    from roadkd.errors import RoadkdError

    with pytest.raises(RoadkdError, match="teachers checkpoint not found"):
        SSLKDStudent(teachers_checkpoint=str(tmp_path / "nope.ckpt"), student=TINY_A)


@pytest.mark.parametrize("task_class", [SupervisedStudent, MeanTeacherStudent, CPSStudents])
def test_baselines_train_and_deploy(task_class: type, tmp_path: Path) -> None:
    task = task_class(student=TINY_A, **OPT)
    trainer = _trainer(tmp_path, 2)
    trainer.fit(task, datamodule=TinyRoadDataModule())
    assert trainer.global_step == 2
    assert "val/road_iou" in trainer.logged_metrics
    trainer.save_checkpoint(tmp_path / "x.ckpt")
    bundle = load_bundle(tmp_path / "x.ckpt")
    assert bundle.extra["task"] == task_class.__name__


def test_mean_teacher_ema_moves_but_is_not_optimised(tmp_path: Path) -> None:
    task = MeanTeacherStudent(student=TINY_A, **OPT)
    ema_before = [p.clone() for p in task.ema.parameters()]
    _trainer(tmp_path, 2).fit(task, datamodule=TinyRoadDataModule())
    assert all(not p.requires_grad for p in task.ema.parameters())
    assert any(
        not torch.equal(a, b) for a, b in zip(ema_before, task.ema.parameters(), strict=True)
    )


def test_teachers_labels_only_ignore_unlabeled(tmp_path: Path) -> None:
    task = CrossModelTeachers(
        teacher_a=TINY_A, teacher_b=TINY_B, warmup_steps=0, use_unlabeled=False, **OPT
    )
    trainer = _trainer(tmp_path, 1)
    trainer.fit(task, datamodule=TinyRoadDataModule())
    assert float(trainer.logged_metrics["train/loss_cps"]) == 0.0


class _NoFactsDataModule(TinyRoadDataModule):
    """States no data facts: training must refuse it before the first step."""

    data_facts = None  # type: ignore[assignment]


def test_a_datamodule_without_data_facts_fails_at_training_start(tmp_path: Path) -> None:
    task = SupervisedStudent(student=TINY_A, **OPT)
    trainer = _trainer(tmp_path, 2)
    with pytest.raises(RoadkdError, match="states its data facts"):
        trainer.fit(task, datamodule=_NoFactsDataModule())
    assert trainer.global_step == 0
