"""The semi-supervised datamodule on a tiny generated dataset."""

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
import torch
from lightning.pytorch import LightningModule, Trainer

from roadkd.datamodules import (
    BlockPatchSampler,
    RoadDataModule,
    SceneGridSampler,
    split_blocks,
)
from roadkd.datamodules.labeled_split import SPLIT_FILE, read_split_summary
from roadkd.datasets import RoadImagery, RoadMask, image_path, mask_path
from roadkd.errors import RoadkdError
from roadkd.grid import block_edges
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


def test_block_edges_keep_partial_edges() -> None:
    # 10 px in blocks of at least 3: three blocks of 3, 4 and 3 px, nothing dropped
    assert block_edges(10, 3) == (0, 3, 7, 10)
    assert block_edges(9, 3) == (0, 3, 6, 9)
    assert block_edges(2, 3) == (0, 2)  # a scene smaller than a block is one block


def test_split_is_deterministic_and_disjoint() -> None:
    scenes = [(0.0, 0.0, 100.0, 100.0), (200.0, 0.0, 300.0, 100.0)]
    a = split_blocks(scenes, 1.0, 25, 0.25, seed=1)
    b = split_blocks(scenes, 1.0, 25, 0.25, seed=1)
    c = split_blocks(scenes, 1.0, 25, 0.25, seed=2)
    assert a == b and a != c
    assert len(a.labeled) == 8 and len(a.unlabeled) == 24
    assert a.labeled_share == 0.25
    assert a.labeled_area.intersection(a.unlabeled_area).area == pytest.approx(0.0)
    full = split_blocks(scenes, 1.0, 25, 1.0, seed=1)
    assert len(full.labeled) == 32 and not full.unlabeled and full.labeled_share == 1.0
    assert len(split_blocks(scenes, 1.0, 25, 1 / 64, seed=1).labeled) == 1


def _layout(sizes: list[tuple[int, int]], res: float = 0.21) -> list[tuple[float, ...]]:
    """Scenes of the given pixel sizes side by side, 500 px apart."""
    scenes, x = [], 445000.0
    for width, height in sizes:
        scenes.append((x, 5030000.0 - height * res, x + width * res, 5030000.0))
        x += (width + 500) * res
    return scenes


#: configs/bench: 24 synthetic scenes of 768 px (16 train), labelled by whole scene.
BENCH = (_layout([(768, 768)] * 16), 768)
#: RoadNet: 14 official training scenes less 1 for validation, a few thousand px each
#: (odd sizes), 512 px patches and blocks (configs/roadnet).
ROADNET = (
    _layout([(int(w), int(h)) for w, h in np.random.default_rng(0).integers(1500, 6001, (13, 2))]),
    512,
)


@pytest.mark.parametrize("layout", [BENCH, ROADNET], ids=["bench", "roadnet"])
@pytest.mark.parametrize("ratio", [0.125, 0.25, 0.5, 1.0])
def test_realised_labelled_share_is_the_nominal_ratio(
    layout: tuple[list[tuple[float, ...]], int], ratio: float
) -> None:
    scenes, block = layout
    for seed in (1, 2, 3):
        split = split_blocks(scenes, 0.21, block, ratio, seed)
        assert split.labeled_share == pytest.approx(ratio, rel=0.1)
        # the training area is every scene whole: no partial block is dropped
        total = sum(round((b[2] - b[0]) / 0.21) * round((b[3] - b[1]) / 0.21) for b in scenes)
        assert split.total_pixels == total


def test_block_patches_stay_in_their_blocks_and_reach_every_pixel() -> None:
    # two odd-sized scenes; 32 px patches; blocks of at least 48 px
    scenes = _layout([(250, 200), (160, 300)], res=1.0)
    split = split_blocks(scenes, 1.0, 48, 0.3, seed=4)
    for labeled, area, other in (
        (True, split.labeled_area, split.unlabeled_area),
        (False, split.unlabeled_area, split.labeled_area),
    ):
        regions = [(grid, split.allowed(i, labeled)) for i, grid in enumerate(split.scenes)]
        sampler = BlockPatchSampler(regions, 32, 4000, np.random.default_rng(0))
        patches = [shapely.box(x.start, y.start, x.stop, y.stop) for x, y in sampler]
        assert len(patches) == len(sampler) == 4000
        for patch in patches:
            assert patch.area == pytest.approx(32 * 32)
            assert area.buffer(1e-6).contains(patch)  # never a pixel of the other stream
            assert patch.intersection(other).area == pytest.approx(0.0)
        # patches reach block edges and corners: the whole area is sampled
        covered = shapely.union_all(patches).intersection(area).area
        assert covered / area.area > 0.99


def test_scene_grid_patches_stay_inside_their_scenes() -> None:
    scenes = _layout([(250, 200), (64, 64)], res=1.0)
    sampler = SceneGridSampler(scenes, 1.0, 64, 64)
    # 250 px: offsets 0, 64, 128 and 186 (moved back to the edge); 200 px: 0, 64, 128, 136
    assert len(sampler) == 4 * 4 + 1
    boxes = [shapely.box(*b) for b in scenes]
    patches = [shapely.box(x.start, y.start, x.stop, y.stop) for x, y in sampler]
    for patch in patches:
        assert any(box.buffer(1e-6).contains(patch) for box in boxes)
    union = shapely.union_all(patches)
    assert union.area == pytest.approx(sum(box.area for box in boxes))


def _scene_bounds(dataset: object) -> tuple[float, float, float, float]:
    x, y, _ = dataset.bounds  # type: ignore[attr-defined]
    return (float(x.start), float(y.start), float(x.stop), float(y.stop))


def test_split_summary_without_training(road_dataset: Path) -> None:
    # what the experiment runner can read before (or without) training
    dm = RoadDataModule(road_dataset, patch_size=64, labeled_ratio=0.25)
    summary = dm.split_summary()
    assert summary["labeled_share"] == 0.25 and summary["training_pixels"] == 256 * 256
    assert summary["block_size_px"] == 128 and summary["training_scenes"] == 1


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


def test_color_jitter_changes_labelled_colours_not_their_geometry(road_dataset: Path) -> None:
    def labelled(jitter: bool) -> dict[str, torch.Tensor]:
        dm = RoadDataModule(
            road_dataset, batch_size=4, patch_size=64, labeled_ratio=0.5, color_jitter=jitter
        )
        dm.setup("fit")
        raw, _, _ = next(iter(dm.train_dataloader()))
        torch.manual_seed(0)
        return dict(dm.on_after_batch_transfer(raw, 0)["labeled"])

    plain, jittered = labelled(False), labelled(True)
    assert torch.equal(plain["mask"], jittered["mask"])  # same flips and rotations
    assert not torch.allclose(plain["image"], jittered["image"])


def test_unlabeled_pixels_are_the_unlabelled_blocks(road_dataset: Path) -> None:
    dm = RoadDataModule(road_dataset, patch_size=64, labeled_ratio=0.25)
    split = dm.make_split()
    pixels = dm.unlabeled_pixels()
    assert sum(int(m.sum()) for m in pixels.values()) == split.total_pixels - split.labeled_pixels
    for scene, mask in pixels.items():
        with rasterio.open(image_path(road_dataset, scene)) as src:
            assert mask.shape == (src.height, src.width)
    # with every block labelled, the unlabelled stream (and this) reuses all training imagery
    everything = RoadDataModule(road_dataset, patch_size=64, labeled_ratio=1.0).unlabeled_pixels()
    assert sum(int(m.sum()) for m in everything.values()) == split.total_pixels


def test_val_test_predict_batches(road_dataset: Path) -> None:
    dm = RoadDataModule(road_dataset, batch_size=4, patch_size=64)
    dm.setup("validate")
    batch = dm.on_after_batch_transfer(next(iter(dm.val_dataloader())), 0)
    assert batch["image"].shape == (4, 3, 64, 64) and batch["mask"].shape == (4, 64, 64)
    # the gridded sampler covers the 256 px val scene with 4 x 4 patches, all inside it
    assert len(list(dm.val_sampler)) == len(dm.val_sampler) == 16
    scene = shapely.box(*(float(v) for v in _scene_bounds(dm.val_dataset)))
    for x, y in dm.val_sampler:
        assert scene.buffer(1e-6).contains(shapely.box(x.start, y.start, x.stop, y.stop))
    dm.setup("predict")
    batch = next(iter(dm.predict_dataloader()))
    assert "mask" not in batch and batch["image"].shape[1:] == (3, 64, 64)


def test_fast_dev_run_through_lightning(road_dataset: Path, tmp_path: Path) -> None:
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
    Trainer(
        fast_dev_run=True,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        default_root_dir=tmp_path,
    ).fit(probe, dm)
    assert probe.seen == ["train", "val"]
    # the realised labelled share is written into the run folder
    summary = json.loads((tmp_path / SPLIT_FILE).read_text())
    assert summary == dm.split_summary() == read_split_summary(tmp_path)
    assert read_split_summary(tmp_path / "elsewhere") is None
    assert summary["labeled_ratio"] == 0.5 and summary["labeled_share"] == 0.5
    assert summary["labeled_blocks"] == 2 and summary["blocks"] == 4


def test_scene_grid_knows_what_earlier_patches_covered() -> None:
    sampler = SceneGridSampler(_layout([(250, 64)], res=1.0), 1.0, 64, 64)
    # columns 0, 64, 128, 186: the last patch repeats 128 + 64 - 186 = 6 columns
    assert [sampler.seen(q) for q in sampler] == [(0, 0), (0, 0), (0, 0), (6, 0)]
    overlapping = SceneGridSampler(_layout([(100, 100)], res=1.0), 1.0, 64, 32)
    # offsets 0 and 32 (then 36) on each axis: 32, then 60, pixels seen before
    assert [overlapping.seen(q) for q in overlapping][:3] == [(0, 0), (32, 0), (60, 0)]


@pytest.mark.parametrize("patch, stride", [(100, 100), (64, 48)])
def test_validation_scores_every_pixel_once(road_dataset: Path, patch: int, stride: int) -> None:
    # 256 px is not a whole number of 100 px patches, nor of 48 px strides
    dm = RoadDataModule(road_dataset, batch_size=4, patch_size=patch, val_stride=stride)
    dm.setup("validate")
    scored = 0
    road = 0
    for batch in dm.val_dataloader():
        mask = batch["mask"]
        scored += int((mask != 255).sum())
        road += int((mask == 1).sum())
    assert scored == 256 * 256
    x, y, _ = dm.val_dataset.bounds
    whole = dm.val_dataset[x.start : x.stop, y.start : y.stop]["mask"]
    assert road == int((whole == 1).sum())


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
    with pytest.raises(RoadkdError, match="block_size"):
        RoadDataModule(road_dataset, patch_size=64, block_size=32).setup("fit")
    with pytest.raises(RoadkdError, match="holds a 512 px patch"):
        RoadDataModule(road_dataset, patch_size=512).setup("fit")
