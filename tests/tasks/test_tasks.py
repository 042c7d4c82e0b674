"""Tasks: every task trains on generated tensors; the student leaves its teachers untouched.

The tensors come from ``tiny_data.TinyRoadDataModule`` (random stripe "roads" in the batch
contract of docs/architecture.md), which the CLI tests name by class path too.
"""

from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer
from tiny_data import OPT, TinyRoadDataModule
from torch import nn

from roadkd.errors import RoadkdError
from roadkd.imagery import BandPercentiles
from roadkd.models import ModelConfig, load_bundle
from roadkd.tasks import (
    CPSStudents,
    CrossModelTeachers,
    MeanTeacherStudent,
    SSLKDStudent,
    SupervisedStudent,
)
from roadkd.tasks.optimization import Optimization, poly_factor

TINY_A = ModelConfig(
    arch="Unet", encoder="resnet18", kwargs={"encoder_depth": 3, "decoder_channels": [16, 8, 4]}
)
TINY_B = ModelConfig(
    arch="Segformer", encoder="mit_b0", kwargs={"decoder_segmentation_channels": 16}
)


def _trainer(tmp_path: Path, steps: int, log_every_n_steps: int = 50) -> Trainer:
    return Trainer(
        max_epochs=1,
        log_every_n_steps=log_every_n_steps,
        limit_train_batches=steps,
        limit_val_batches=1,
        accelerator="cpu",
        default_root_dir=tmp_path,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


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


def test_optimization_builds_the_authors_recipe_and_stores_plain_data() -> None:
    encoder, head = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(3))
    optimizer, scheduler = Optimization().build([encoder], [head], total_steps=10)
    assert isinstance(optimizer, torch.optim.SGD)
    assert [g["lr"] for g in optimizer.param_groups] == [0.01, 0.001]  # heads, encoders
    assert optimizer.param_groups[0]["momentum"] == 0.9
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01 * poly_factor(5, 10, 0.9))
    adamw, _ = Optimization(optimizer="adamw", backbone_lr=None).build([encoder], [head], 0)
    assert isinstance(adamw, torch.optim.AdamW)
    assert [g["lr"] for g in adamw.param_groups] == [0.01, 0.01]
    with pytest.raises(RoadkdError, match="unknown optimizer 'adam'"):
        Optimization(optimizer="adam").build([encoder], [head], 0)
    # Tasks keep their settings as plain data, so checkpoints unpickle no roadkd class.
    task = SupervisedStudent(student=TINY_A, **OPT)
    assert task.hparams["optim"] == {**Optimization().to_dict(), **OPT["optim"].to_dict()}
    assert Optimization.of(task.hparams["optim"]) == OPT["optim"]
    with pytest.raises(RoadkdError, match=r"unknown optimisation settings \['learning_rate'\]"):
        Optimization.of({"learning_rate": 0.1})


def test_teachers_checkpoint_holds_deploy_bundle(teachers_ckpt: Path) -> None:
    bundle = load_bundle(teachers_ckpt)
    assert bundle.config.arch == "Unet"  # teacher A is deployed
    assert bundle.mean == (0.5, 0.5, 0.5)
    assert bundle.tile_size == 32
    assert bundle.resolution_m == 0.3  # the datamodule's, not a default
    assert bundle.input_percentiles == BandPercentiles((10.0, 20.0, 30.0), (200.0, 210.0, 220.0))
    out = bundle.model(torch.zeros(1, 3, 32, 32))
    assert out.shape == (1, 2, 32, 32)


def test_student_leaves_teachers_bit_identical(teachers_ckpt: Path, tmp_path: Path) -> None:
    task = SSLKDStudent(
        teachers_checkpoint=str(teachers_ckpt), student=TINY_A, threshold=0.0, **OPT
    )
    before = {k: v.clone() for k, v in task.teachers.state_dict().items()}
    student_before = [p.clone() for p in task.student.parameters()]
    _trainer(tmp_path, 3, log_every_n_steps=3).fit(task, datamodule=TinyRoadDataModule())
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
        "train/grad_norm_sup",
        "train/grad_norm_feat",
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


@pytest.mark.parametrize("task_class", [CrossModelTeachers, CPSStudents])
def test_cross_supervision_learns_on_the_strong_view_and_cutmix(
    task_class: type, tmp_path: Path
) -> None:
    nets = {"teacher_a": TINY_A, "teacher_b": TINY_B}
    if task_class is CPSStudents:
        nets = {"student": TINY_A}
    task = task_class(**nets, warmup_steps=0, strong_view=True, cutmix=True, **OPT)
    trainer = _trainer(tmp_path, 2)
    trainer.fit(task, datamodule=TinyRoadDataModule())
    assert trainer.global_step == 2
    assert float(trainer.logged_metrics["train/loss_cps"]) > 0


def test_cutmix_boxes_cover_a_quarter_to_a_half() -> None:
    from roadkd.tasks.cross_supervision import cutmix_masks, mixed

    torch.manual_seed(0)
    boxes = cutmix_masks(64, 40, 50, torch.device("cpu"))
    assert boxes.shape == (64, 1, 40, 50) and boxes.dtype == torch.bool
    share = boxes.float().mean(dim=(1, 2, 3))
    assert share.min() > 0.2 and share.max() < 0.55
    # inside a box an image keeps its pixels, outside it shows the next image's
    x = torch.arange(3.0)[:, None, None, None].expand(3, 1, 40, 50)
    out = mixed(boxes[:3], x)
    assert torch.equal(out[1][boxes[1]], x[1][boxes[1]])
    assert torch.equal(out[1][~boxes[1]], x[0][~boxes[1]])


def test_student_refuses_an_unknown_pseudo_label_rule(teachers_ckpt: Path) -> None:
    with pytest.raises(RoadkdError, match="pseudo_labels must be one of"):
        SSLKDStudent(teachers_checkpoint=str(teachers_ckpt), student=TINY_A, pseudo_labels="vote")


class _NoFactsDataModule(TinyRoadDataModule):
    """States no data facts: training must refuse it before the first step."""

    data_facts = None  # type: ignore[assignment]


def test_a_datamodule_without_data_facts_fails_at_training_start(tmp_path: Path) -> None:
    task = SupervisedStudent(student=TINY_A, **OPT)
    trainer = _trainer(tmp_path, 2)
    with pytest.raises(RoadkdError, match="states its data facts"):
        trainer.fit(task, datamodule=_NoFactsDataModule())
    assert trainer.global_step == 0


def _untrained_teachers_checkpoint(path: Path, a: ModelConfig, b: ModelConfig) -> Path:
    """A teachers checkpoint of randomly initialised networks (what a run starts from)."""
    task = CrossModelTeachers(teacher_a=a, teacher_b=b, **OPT)
    torch.save({"hyper_parameters": dict(task.hparams), "state_dict": task.state_dict()}, path)
    return path


def test_feature_term_pulls_like_the_labels_at_initialisation(
    road_dataset: Path, tmp_path: Path
) -> None:
    """The feature term's gradient on the student is of the order of L_sup's (issue 15)."""
    from roadkd.datamodules import RoadDataModule
    from roadkd.tasks.student import gradient_norm

    # the demo configs' architectures (a CNN and a Transformer teacher, the real student)
    ckpt = _untrained_teachers_checkpoint(
        tmp_path / "teachers.ckpt",
        ModelConfig(arch="DeepLabV3Plus", encoder="resnet18"),
        ModelConfig(arch="Segformer", encoder="mit_b0"),
    )
    task = SSLKDStudent(
        teachers_checkpoint=str(ckpt),
        student=ModelConfig(arch="DeepLabV3Plus", encoder="mobilenet_v2"),
        **OPT,
    ).train()
    dm = RoadDataModule(road_dataset, batch_size=4, patch_size=64, labeled_ratio=0.5, length=4)
    dm.setup("fit")
    batch = dm.on_after_batch_transfer(next(iter(dm.train_dataloader()))[0], 0)
    terms = task.loss_terms(batch)
    params = list(task.student.parameters())
    sup, feat = gradient_norm(terms["sup"], params), gradient_norm(terms["feat"], params)
    # measured: about 40 against 135 (the element-wise mean gave about 0.1)
    assert 0.1 < (feat / sup).item() < 10, (sup.item(), feat.item())
    # two teachers, nearly orthogonal features at initialisation: close to 2 + 2
    assert 3.0 < terms["feat"].item() <= 8.0


def test_teachers_checkpoint_is_chosen_by_both_teachers(tmp_path: Path) -> None:
    task = CrossModelTeachers(teacher_a=TINY_A, teacher_b=TINY_B, warmup_steps=0, **OPT)
    trainer = _trainer(tmp_path, 1)
    trainer.fit(task, datamodule=TinyRoadDataModule())
    logged = trainer.logged_metrics
    a, b = float(logged["val/teacher_a/road_iou"]), float(logged["val/teacher_b/road_iou"])
    assert a != b  # two different networks
    assert float(logged["val/road_iou"]) == pytest.approx((a + b) / 2)
    assert float(logged["val/miou"]) == pytest.approx(
        (float(logged["val/teacher_a/miou"]) + float(logged["val/teacher_b/miou"])) / 2
    )


def test_gradient_norm_hand_computed_and_scale_free() -> None:
    from roadkd.tasks.student import gradient_norm

    w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    unused = torch.nn.Parameter(torch.tensor([1.0]))
    loss = (w**2).sum() / 2  # gradient w = (3, 4): norm 5
    assert gradient_norm(loss, [w, unused]).item() == pytest.approx(5.0)
    assert gradient_norm(loss, [w], scale=1024.0).item() == pytest.approx(5.0)
    assert w.grad is None  # the real backward pass is left alone
    assert gradient_norm(torch.tensor(1.0), [w]).item() == 0.0
