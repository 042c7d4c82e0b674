"""Pseudo-label diagnostics, on teachers whose outputs are set by hand so every number is known."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from roadkd.datasets.layout import mask_path, read_splits
from roadkd.diagnostics import (
    FusionRule,
    PseudoLabelQuality,
    RuleQuality,
    pseudo_label_quality,
)
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


def _rule(quality: PseudoLabelQuality, name: str) -> RuleQuality:
    return next(q for q in quality.rules if q.rule.name == name)


def test_confident_agreeing_teachers_call_everything_road(
    road_dataset: Path, tmp_path: Path
) -> None:
    checkpoint = _constant_teachers(tmp_path / "t.ckpt", 5.0, 5.0)  # p(road) = 0.993
    quality = pseudo_label_quality(checkpoint, road_dataset, "test", tile=128)
    share = _road_share(road_dataset, "test")
    assert 0 < share < 1
    assert [q.rule.name for q in quality.rules] == [
        "threshold 0.9",
        "threshold 0.7",
        "argmax",
        "confidence",
        "road 0.3",
        "road 0.2",
    ]
    for name in ("threshold 0.9", "argmax", "road 0.3"):
        rule = _rule(quality, name)
        assert rule.coverage == 1.0
        assert rule.accuracy == pytest.approx(share)
        assert rule.road_precision == pytest.approx(share)
        assert rule.road_recall == 1.0
        # all road taught right (+1), all background taught wrong (-1): nothing net
        assert rule.net_teaching == pytest.approx(0.0, abs=1e-9)
    weight = (torch.sigmoid(torch.tensor(5.0)).item() - 0.5) / 0.5
    assert _rule(quality, "confidence").coverage == pytest.approx(weight, rel=1e-4)
    assert quality.agreement == 1.0
    assert quality.teacher_iou == pytest.approx({"a": share, "b": share, "fused": share})


def test_disagreeing_teachers_teach_nothing_confidently(road_dataset: Path, tmp_path: Path) -> None:
    # A says road (p 0.881), B says background (p 0.269): the fused road probability is 0.575.
    checkpoint = _constant_teachers(tmp_path / "t.ckpt", 2.0, -1.0)
    quality = pseudo_label_quality(checkpoint, road_dataset, "val")
    share = _road_share(road_dataset, "val")
    fused = (torch.sigmoid(torch.tensor(2.0)) + torch.sigmoid(torch.tensor(-1.0))).item() / 2
    for name in ("threshold 0.9", "threshold 0.7"):
        assert _rule(quality, name).coverage == 0.0
        assert _rule(quality, name).road_recall == 0.0
    # Argmax teaches road everywhere; confidence weighting does too, at (0.575 - 0.5) / 0.5.
    argmax, weighted = _rule(quality, "argmax"), _rule(quality, "confidence")
    assert argmax.coverage == 1.0 and argmax.road_recall == 1.0
    assert argmax.accuracy == pytest.approx(share)
    assert weighted.coverage == pytest.approx((fused - 0.5) / 0.5, rel=1e-4)
    assert weighted.road_recall == pytest.approx((fused - 0.5) / 0.5, rel=1e-4)
    assert quality.agreement == 0.0
    assert quality.teacher_iou["a"] == pytest.approx(share)
    assert quality.teacher_iou["b"] == 0.0
    assert quality.best.net_teaching == pytest.approx(0.0, abs=1e-6)


def test_regions_limit_the_measured_pixels(road_dataset: Path, tmp_path: Path) -> None:
    checkpoint = _constant_teachers(tmp_path / "t.ckpt", 5.0, 5.0)
    scene = read_splits(road_dataset)["test"][0]
    with rasterio.open(mask_path(road_dataset, scene)) as src:
        labels = src.read(1)
    region = np.zeros(labels.shape, bool)
    region[: labels.shape[0] // 2] = True
    rules = [FusionRule("argmax")]
    quality = pseudo_label_quality(checkpoint, road_dataset, "test", rules, {scene: region})
    assert quality.pixels == int((region & (labels != 255)).sum())
    top = labels[region]
    share = float((top == 1).sum() / (top != 255).sum())
    assert quality.of(rules[0]).accuracy == pytest.approx(share)


def test_errors(road_dataset: Path, tmp_path: Path) -> None:
    checkpoint = _constant_teachers(tmp_path / "t.ckpt", 1.0, 1.0)
    with pytest.raises(RoadkdError, match="no unlabeled scenes to measure"):
        pseudo_label_quality(checkpoint, road_dataset, "unlabeled")
    with pytest.raises(RoadkdError, match="no test scenes to measure"):
        pseudo_label_quality(checkpoint, road_dataset, "test", regions={"elsewhere": np.ones(1)})
    with pytest.raises(RoadkdError, match="not found"):
        pseudo_label_quality(tmp_path / "none.ckpt", road_dataset)
