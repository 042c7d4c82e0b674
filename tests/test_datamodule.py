"""The semi-supervised datamodule on a tiny generated dataset."""

import json
from pathlib import Path

import pytest
import shapely
import torch
from lightning.pytorch import LightningModule, Trainer

from roadkd.datamodules import RoadDataModule, split_blocks, tile_blocks
from roadkd.datasets import RoadImagery, RoadMask, image_path, mask_path
from roadkd.errors import RoadkdError
from roadkd.normalization import DEFAULT_MEAN, DEFAULT_STD


def test_datasets_report_crs_resolution_bounds(road_dataset: Path) -> None:
    imagery = RoadImagery([image_path(road_dataset, "scene_000")])
    masks = RoadMask([mask_path(road_dataset, "scene_000", "surface")])
    assert imagery.crs.to_epsg() == 32618
    assert imagery.res == (0.21, 0.21)
    x, y, _ = imagery.bounds
    assert float(x.start) == pytest.approx(445000.0)
    assert float(x.stop - x.start) == pytest.approx(256 * 0.21)
    assert float(y.stop) == pytest.approx(5030000.0)
    both = imagery & masks
    sample = both[x.start : x.start + 64 * 0.21, y.stop - 64 * 0.21 : y.stop]
    assert sample["image"].shape == (3, 64, 64) and sample["image"].dtype == torch.float32
    assert sample["mask"].shape == (64, 64) and sample["mask"].dtype == torch.int64
    assert set(sample["mask"].unique().tolist()) <= {0, 1}
    assert "bounds" in sample and "transform" in sample


def test_tile_blocks_drops_partial_edges() -> None:
    assert len(tile_blocks((0, 0, 10, 7), 3)) == 3 * 2


def test_split_is_deterministic_and_disjoint() -> None:
    scenes = [(0.0, 0.0, 100.0, 100.0), (200.0, 0.0, 300.0, 100.0)]
    a = split_blocks(scenes, 25.0, 0.25, seed=1)
    b = split_blocks(scenes, 25.0, 0.25, seed=1)
    c = split_blocks(scenes, 25.0, 0.25, seed=2)
    assert a == b and a != c
    assert len(a.labeled) == 8 and len(a.unlabeled) == 24
    assert a.labeled_area.intersection(a.unlabeled_area).area == pytest.approx(0.0)
    full = split_blocks(scenes, 25.0, 1.0, seed=1)
    assert len(full.labeled) == 32 and not full.unlabeled
    assert len(split_blocks(scenes, 25.0, 1 / 64, seed=1).labeled) == 1


def test_train_batches_from_both_streams(road_dataset: Path) -> None:
    dm = RoadDataModule(
        road_dataset,
        batch_size=2,
        unlabeled_batch_size=3,
        patch_size=64,
        labeled_ratio=0.25,
        length=4,
    )
    dm.setup("fit")
    assert dm.split is not None and len(dm.split.labeled) == 1 and len(dm.split.unlabeled) == 3
    raw, _, _ = next(iter(dm.train_dataloader()))
    # every labelled patch lies inside the labelled block, never in the unlabelled area
    for bounds in raw["labeled"]["bounds"]:
        patch = shapely.box(*(float(bounds[i]) for i in (0, 3, 1, 4)))  # xmin ymin xmax ymax
        assert dm.split.labeled_area.buffer(1e-6).contains(patch)
    for bounds in raw["unlabeled"]["bounds"]:
        patch = shapely.box(*(float(bounds[i]) for i in (0, 3, 1, 4)))  # xmin ymin xmax ymax
        assert dm.split.unlabeled_area.buffer(1e-6).contains(patch)
    batch = dm.on_after_batch_transfer(raw, 0)
    assert batch["labeled"]["image"].shape == (2, 3, 64, 64)
    assert batch["labeled"]["mask"].shape == (2, 64, 64)
    assert batch["labeled"]["mask"].dtype == torch.int64
    assert batch["unlabeled"]["image"].shape == (3, 3, 64, 64)
    assert batch["unlabeled"]["image_strong"].shape == (3, 3, 64, 64)
    # normalised: (x / 255 - mean) / std keeps values within these limits
    lo = min((0 - m) / s for m, s in zip(DEFAULT_MEAN, DEFAULT_STD, strict=True))
    hi = max((1 - m) / s for m, s in zip(DEFAULT_MEAN, DEFAULT_STD, strict=True))
    image = batch["labeled"]["image"]
    assert image.min() >= lo - 1e-4 and image.max() <= hi + 1e-4


def test_val_test_predict_batches(road_dataset: Path) -> None:
    dm = RoadDataModule(road_dataset, batch_size=4, patch_size=64)
    dm.setup("validate")
    batch = dm.on_after_batch_transfer(next(iter(dm.val_dataloader())), 0)
    assert batch["image"].shape == (4, 3, 64, 64) and batch["mask"].shape == (4, 64, 64)
    # the gridded sampler covers the 256 px val scene with at least 4 x 4 patches
    assert len(list(dm.val_sampler)) == len(dm.val_sampler) >= 16
    dm.setup("predict")
    batch = next(iter(dm.predict_dataloader()))
    assert "mask" not in batch and batch["image"].shape[1:] == (3, 64, 64)


def test_fast_dev_run_through_lightning(road_dataset: Path) -> None:
    class Probe(LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 2, 1)
            self.seen: list[str] = []

        def training_step(self, batch, batch_idx):
            self.seen.append("train")
            loss = torch.nn.functional.cross_entropy(
                self.conv(batch["labeled"]["image"]), batch["labeled"]["mask"]
            )
            return loss + 0 * self.conv(batch["unlabeled"]["image_strong"]).sum()

        def validation_step(self, batch, batch_idx):
            self.seen.append("val")

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    probe = Probe()
    dm = RoadDataModule(road_dataset, batch_size=2, patch_size=64, labeled_ratio=0.5, length=4)
    Trainer(fast_dev_run=True, accelerator="cpu", logger=False, enable_progress_bar=False).fit(
        probe, dm
    )
    assert probe.seen == ["train", "val"]


def test_bad_inputs(tmp_path: Path, road_dataset: Path) -> None:
    with pytest.raises(RoadkdError, match="dataset folder not found"):
        RoadDataModule(tmp_path / "nowhere").setup("fit")
    with pytest.raises(RoadkdError, match=r"splits\.json not found"):
        RoadDataModule(tmp_path).setup("fit")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "splits.json").write_text(json.dumps({"train": ["ghost"], "val": [], "test": []}))
    with pytest.raises(RoadkdError, match="ghost"):
        RoadDataModule(broken).setup("fit")
    with pytest.raises(RoadkdError, match="labeled_ratio"):
        RoadDataModule(road_dataset, labeled_ratio=0)
    with pytest.raises(RoadkdError, match="no room"):
        RoadDataModule(road_dataset, patch_size=64, block_size=64, labeled_ratio=0.1).setup("fit")
