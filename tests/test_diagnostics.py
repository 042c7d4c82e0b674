"""Pseudo-label diagnostics, on teachers whose outputs are set by hand so every number is known."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from roadkd.datasets.layout import mask_path, read_splits
from roadkd.diagnostics import pseudo_label_quality
from roadkd.errors import RoadkdError
from roadkd.models import ModelConfig
from roadkd.models.deploy import DataFacts
from roadkd.normalization import DEFAULT_MEAN, DEFAULT_STD
from roadkd.tasks import CrossModelTeachers, Optimization

TINY_A = ModelConfig(
    arch="Unet", encoder="resnet18", kwargs={"encoder_depth": 3, "decoder_channels": [16, 8, 4]}
)
TINY_B = ModelConfig(
    arch="Segformer", encoder="mit_b0", kwargs={"decoder_segmentation_channels": 16}
)


def _constant_teachers(path: Path, road_logit_a: float, road_logit_b: float) -> Path:
    """Teachers whose heads ignore the image: logits (0, road_logit) at every pixel."""
    task = CrossModelTeachers(
        teacher_a=TINY_A,
        teacher_b=TINY_B,
        optim=Optimization(optimizer="adamw", lr=1e-3, backbone_lr=None),
    )
    for teacher, road_logit in ((task.teacher_a, road_logit_a), (task.teacher_b, road_logit_b)):
        head = teacher.segmentation_head[0]
        torch.nn.init.zeros_(head.weight)
        head.bias.data = torch.tensor([0.0, road_logit])
    checkpoint = {"hyper_parameters": dict(task.hparams), "state_dict": task.state_dict()}
    task.data_facts = DataFacts(DEFAULT_MEAN, DEFAULT_STD, tile_size=64, resolution_m=0.21)
    task.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, path)
    return path


def _road_share(root: Path, split: str) -> float:
    masks = []
    for scene in read_splits(root)[split]:
        with rasterio.open(mask_path(root, scene)) as src:
            masks.append(src.read(1).ravel())
    labels = np.concatenate(masks)
    return float((labels == 1).sum() / (labels != 255).sum())


def test_confident_agreeing_teachers_call_everything_road(
    road_dataset: Path, tmp_path: Path
) -> None:
    checkpoint = _constant_teachers(tmp_path / "t.ckpt", 5.0, 5.0)  # p(road) = 0.993
    quality = pseudo_label_quality(checkpoint, road_dataset, "test", threshold=0.9, tile=120)
    share = _road_share(road_dataset, "test")
    assert 0 < share < 1
    assert quality.coverage == 1.0
    assert quality.accuracy == pytest.approx(share)
    assert quality.road_recall == 1.0
    assert quality.false_road == pytest.approx(1 - share)
    assert quality.agreement == 1.0
    assert quality.teacher_iou == pytest.approx({"a": share, "b": share, "fused": share})


def test_disagreeing_teachers_are_not_confident(road_dataset: Path, tmp_path: Path) -> None:
    # A says road (p 0.88), B says background (p 0.12): the fused road probability is 0.5.
    checkpoint = _constant_teachers(tmp_path / "t.ckpt", 2.0, -2.0)
    quality = pseudo_label_quality(checkpoint, road_dataset, "val", threshold=0.9)
    share = _road_share(road_dataset, "val")
    assert quality.coverage == 0.0
    assert quality.road_recall == 0.0
    assert quality.agreement == 0.0
    assert quality.teacher_iou["a"] == pytest.approx(share)
    assert quality.teacher_iou["b"] == 0.0
    # No fused probability is below one half, so a lower threshold takes every pixel.
    assert pseudo_label_quality(checkpoint, road_dataset, "val", threshold=0.4).coverage == 1.0


def test_errors(road_dataset: Path, tmp_path: Path) -> None:
    checkpoint = _constant_teachers(tmp_path / "t.ckpt", 1.0, 1.0)
    with pytest.raises(RoadkdError, match="no unlabeled scenes"):
        pseudo_label_quality(checkpoint, road_dataset, "unlabeled")
    with pytest.raises(RoadkdError, match="not found"):
        pseudo_label_quality(tmp_path / "none.ckpt", road_dataset)
