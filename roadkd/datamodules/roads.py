"""Semi-supervised GeoDataModule over roadkd's dataset layout."""

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import kornia.augmentation as K
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.combined_loader import CombinedLoader
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchgeo.datamodules import GeoDataModule
from torchgeo.datasets import GeoDataset, IntersectionDataset, stack_samples
from torchgeo.samplers import GriddedPatchSampler

from ..datasets.layout import MASK_KINDS, dataset_resolution_m, image_path, mask_path, read_splits
from ..datasets.road_imagery import RoadImagery
from ..datasets.road_mask import RoadMask
from ..errors import RoadkdError
from ..imagery import BandPercentiles, pooled_band_percentiles
from ..io import atomic_output
from ..models.deploy import DataFacts
from ..normalization import DEFAULT_MEAN, DEFAULT_STD, normalize
from .labeled_split import (
    SPLIT_FILE,
    BlockLayout,
    BlockSplit,
    split_blocks,
    tile_scene,
)
from .samplers import BlockPatchSampler, SceneGridSampler, ScoreEachPixelOnce

Batch = dict[str, Any]


def _bounds(dataset: GeoDataset) -> tuple[float, float, float, float]:
    x, y, _ = dataset.bounds
    return (float(x.start), float(y.start), float(x.stop), float(y.stop))


def random_flip_rotate(image: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """Apply the same random flip and 90-degree rotation to each image and its mask.

    Args:
        image: (B, C, H, W) images (square patches).
        mask: optional (B, H, W) labels.

    Returns:
        The augmented image and mask.
    """
    images, masks = [], []
    for i in range(image.shape[0]):
        k = int(torch.randint(4, ()))
        flip = bool(torch.randint(2, ()))
        img = torch.rot90(image[i], k, dims=(-2, -1))
        img = img.flip(-1) if flip else img
        images.append(img)
        if mask is not None:
            m = torch.rot90(mask[i], k, dims=(-2, -1))
            masks.append(m.flip(-1) if flip else m)
    return torch.stack(images), (torch.stack(masks) if mask is not None else None)


class RoadDataModule(GeoDataModule):
    """Labelled and unlabelled road imagery for semi-supervised training.

    The training scenes are cut into blocks; seeded blocks covering as nearly as possible a
    ``labeled_ratio`` share of the training area keep their labels and feed the labelled
    stream, the rest (plus any imagery-only scenes) feeds the unlabelled stream. A patch
    lies wholly inside blocks of its stream, so the two never share a pixel, and reaches
    every pixel of them. The realised labelled share is logged at setup, kept in
    :meth:`split_summary` and written to ``<default_root_dir>/data_split.json``. Training
    batches are ``{"labeled": {"image", "mask"}, "unlabeled": {"image", "image_strong"}}``;
    val and test patches tile each held-out scene from inside (none hangs past its edge);
    predict covers the test scenes whole.
    Images arrive normalised ((pixel / 255 - mean) / std); masks are int64 in {0, 1}.
    """

    def __init__(
        self,
        root: str | Path,
        batch_size: int = 4,
        unlabeled_batch_size: int | None = None,
        patch_size: int = 256,
        labeled_ratio: float = 1.0,
        split_seed: int = 1,
        block_size: int | None = None,
        length: int | None = None,
        val_stride: int | None = None,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        mean: tuple[float, ...] = DEFAULT_MEAN,
        std: tuple[float, ...] = DEFAULT_STD,
        mask: str = "surface",
    ) -> None:
        """Initialise the datamodule.

        Args:
            root: dataset folder (``roadkd data synth`` / ``roadkd data roadnet`` layout).
            batch_size: labelled patches per batch.
            unlabeled_batch_size: unlabelled patches per batch (default: ``batch_size``).
            patch_size: patch side in pixels.
            labeled_ratio: share of the training area that keeps its labels, in (0, 1].
            split_seed: seed of the labelled/unlabelled split and of patch sampling.
            block_size: smallest side in pixels of the blocks the split works on, at least
                the patch size; a scene's edge remainders are shared among its blocks
                (default: twice the patch size).
            length: labelled patches per epoch (default: about the labelled area / patch).
            val_stride: stride of the gridded val/test sampler (default: ``patch_size``).
            num_workers: data loading workers.
            pin_memory: pin host memory (default: when CUDA is available).
            mean: per-band mean applied after dividing pixels by 255.
            std: per-band std applied after dividing pixels by 255.
            mask: label kind to learn: "surface", "edge" or "centerline".

        Raises:
            RoadkdError: for an impossible ratio or mask kind.
        """
        if not 0 < labeled_ratio <= 1:
            raise RoadkdError(f"labeled_ratio must be in (0, 1], got {labeled_ratio}")
        if mask not in MASK_KINDS:
            raise RoadkdError(f"mask must be one of {', '.join(MASK_KINDS)}, got {mask!r}")
        super().__init__(
            RoadImagery,
            batch_size=batch_size,
            patch_size=patch_size,
            length=length,
            num_workers=num_workers,
        )
        self.root = Path(root)
        self.unlabeled_batch_size = unlabeled_batch_size or batch_size
        self.labeled_ratio = labeled_ratio
        self.split_seed = split_seed
        self.block_size = block_size or 2 * patch_size
        self.val_stride = val_stride or patch_size
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        # Plain tuples (the base class uses tensors): they go into checkpoints as they are.
        self.mean = tuple(float(m) for m in mean)  # type: ignore[assignment]
        self.std = tuple(float(s) for s in std)  # type: ignore[assignment]
        self.mask = mask
        self.split: BlockSplit | None = None
        # Photometric only: the strong view keeps the weak view's geometry.
        self.strong_aug = nn.Sequential(
            K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8),
            K.RandomGrayscale(p=0.2),
            K.RandomGaussianBlur((5, 5), (0.1, 2.0), p=0.5),
        )

    # -- facts the deploy bundle records ----------------------------------------------------

    @cached_property
    def resolution_m(self) -> float:
        """Metres per pixel of the dataset's imagery (see :func:`dataset_resolution_m`)."""
        return dataset_resolution_m(self.root)

    @cached_property
    def input_percentiles(self) -> BandPercentiles:
        """Per-band 2 and 98 percentiles of the training imagery, as the network sees it.

        Pooled over the training and imagery-only scenes (what the training streams read)
        from decimated reads. The layout's images are read raw, values as they are in the
        files, which is what the network gets before /255 and mean/std; the layout holds
        0-255 pixels (``data from-vectors`` stretches other bit depths when it writes them).
        """
        splits = read_splits(self.root)
        scenes = [image_path(self.root, s) for s in splits["train"] + splits["unlabeled"]]
        bands = tuple(range(1, len(self.mean) + 1))
        return pooled_band_percentiles(scenes, bands, f"the training imagery of {self.root}")

    def data_facts(self) -> DataFacts:
        """Normalisation, patch size, resolution and input percentiles for deploy bundles.

        Raises:
            RoadkdError: if the dataset's resolution cannot be known or is not one value,
                or its training imagery cannot be measured.
        """
        patch = self.patch_size if isinstance(self.patch_size, int) else max(self.patch_size)
        return DataFacts(
            self.mean,  # type: ignore[arg-type]
            self.std,  # type: ignore[arg-type]
            int(patch),
            self.resolution_m,
            self.input_percentiles,
        )

    # -- datasets --------------------------------------------------------------------------

    def _imagery(self, scenes: list[str]) -> RoadImagery:
        return RoadImagery([image_path(self.root, s) for s in scenes])

    def _labelled(self, scenes: list[str]) -> IntersectionDataset:
        masks = RoadMask([mask_path(self.root, s, self.mask) for s in scenes])
        return IntersectionDataset(self._imagery(scenes), masks)

    def setup(self, stage: str) -> None:
        """Build datasets and samplers for ``stage`` ("fit", "validate", "test", "predict")."""
        splits = read_splits(self.root)
        for split in ("train", "val") if stage == "fit" else ():
            if not splits[split]:
                raise RoadkdError(f"{self.root / 'splits.json'} has no {split} scenes")
        if stage == "fit":
            self._setup_train(splits["train"], splits["unlabeled"])
        if stage in ("fit", "validate"):
            self.val_dataset = self._labelled(splits["val"])
            self.val_sampler = self._scene_grid(splits["val"])
        if stage == "test":
            if not splits["test"]:
                raise RoadkdError(f"{self.root / 'splits.json'} has no test scenes")
            self.test_dataset = self._labelled(splits["test"])
            self.test_sampler = self._scene_grid(splits["test"])
        if stage == "predict":
            scenes = splits["test"] or splits["val"]
            self.predict_dataset = self._imagery(scenes)
            self.predict_sampler = GriddedPatchSampler(
                self.predict_dataset, size=self.patch_size, stride=self.val_stride
            )

    @property
    def _patch_px(self) -> int:
        size = self.patch_size
        return int(size if isinstance(size, int) else max(size))

    def _scene_grid(self, scenes: list[str]) -> SceneGridSampler:
        """Gridded val/test patches, each inside its scene (none hangs past an edge)."""
        bounds = [_bounds(self._imagery([s])) for s in scenes]
        res = self._imagery(scenes[:1]).res[0]
        return SceneGridSampler(bounds, res, self._patch_px, self.val_stride)

    def make_split(self) -> BlockSplit:
        """Cut the training scenes into blocks and pick the labelled ones (reads headers only).

        Returns:
            The seeded split of ``splits.json``'s training scenes.

        Raises:
            RoadkdError: if blocks are smaller than patches or no scene holds a patch.
        """
        if self.block_size < self._patch_px:
            raise RoadkdError(
                f"block_size ({self.block_size}) must be at least patch_size ({self._patch_px})"
            )
        train = read_splits(self.root)["train"]
        if not train:
            raise RoadkdError(f"{self.root / 'splits.json'} has no train scenes")
        res = self._imagery(train[:1]).res[0]
        bounds = [_bounds(self._imagery([s])) for s in train]
        usable = [b for b in bounds if min(b[2] - b[0], b[3] - b[1]) >= self._patch_px * res]
        if not usable:
            raise RoadkdError(
                f"no training scene holds a {self._patch_px} px patch: lower patch_size"
            )
        return split_blocks(usable, res, self.block_size, self.labeled_ratio, self.split_seed)

    def split_summary(self, split: BlockSplit | None = None) -> dict[str, Any]:
        """Facts about the labelled split: nominal and realised labelled share, blocks.

        Args:
            split: a split from :meth:`make_split` (default: this datamodule's, or a new one).

        Returns:
            A JSON-ready dict; ``labeled_share`` is the share of the training area (every
            pixel of which can be sampled) that carries labels.
        """
        split = split or self.split or self.make_split()
        blocks = sum(grid.shape[0] * grid.shape[1] for grid in split.scenes)
        return {
            "labeled_ratio": self.labeled_ratio,
            "labeled_share": round(split.labeled_share, 6),
            "labeled_pixels": split.labeled_pixels,
            "training_pixels": split.total_pixels,
            "labeled_blocks": len(split.labeled_cells),
            "blocks": blocks,
            "block_size_px": self.block_size,
            "patch_size_px": self._patch_px,
            "split_seed": self.split_seed,
            "training_scenes": len(split.scenes),
        }

    def _setup_train(self, train: list[str], unlabeled: list[str]) -> None:
        self.split = split = self.make_split()
        summary = self.split_summary(split)
        rank_zero_info(
            f"labelled share of the training area: {summary['labeled_share']:.1%} "
            f"(nominal {self.labeled_ratio:.1%}; {summary['labeled_blocks']} of "
            f"{summary['blocks']} blocks of >= {self.block_size} px)"
        )
        self._write_summary(summary)
        self.train_dataset = self._labelled(train)
        n_scenes = len(split.scenes)
        labelled_blocks = [(split.scenes[i], split.allowed(i, True)) for i in range(n_scenes)]
        length = self.length or max(1, round(split.labeled_pixels / self._patch_px**2))
        self.train_sampler = self._block_sampler(labelled_blocks, length, 0, "labelled")
        # With every block labelled, the unlabelled stream reuses all training imagery.
        everything = not split.unlabeled
        unlabelled_blocks = [
            (split.scenes[i], split.allowed(i, everything)) for i in range(n_scenes)
        ]
        res = split.scenes[0].res
        for scene in unlabeled:  # imagery-only scenes, whole
            grid = tile_scene(_bounds(self._imagery([scene])), res, 10**9)
            unlabelled_blocks.append((grid, np.ones(grid.shape, dtype=bool)))
        self.unlabeled_dataset = self._imagery(train + unlabeled)
        batches = len(self.train_sampler) // self.batch_size
        self.unlabeled_sampler = self._block_sampler(
            unlabelled_blocks, max(1, batches) * self.unlabeled_batch_size, 1, "unlabelled"
        )

    def _block_sampler(
        self, regions: list[tuple[BlockLayout, np.ndarray]], length: int, stream: int, what: str
    ) -> BlockPatchSampler:
        try:
            return BlockPatchSampler(
                regions,
                self._patch_px,
                length,
                np.random.default_rng([self.split_seed, stream]),
            )
        except ValueError as err:
            raise RoadkdError(
                f"the {what} area has no room for {self._patch_px} px patches: raise "
                f"labeled_ratio or lower patch_size"
            ) from err

    def _write_summary(self, summary: dict[str, Any]) -> None:
        """Write the split's facts into the run folder when a trainer runs this datamodule."""
        trainer = self.trainer
        if trainer is None or trainer.global_rank != 0:
            return
        folder = Path(trainer.default_root_dir)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_output(folder / SPLIT_FILE) as tmp:
            tmp.write_text(json.dumps(summary, indent=2))

    # -- loaders ---------------------------------------------------------------------------

    def _loader(
        self, dataset: GeoDataset, sampler: Any, batch_size: int, train: bool
    ) -> DataLoader[Batch]:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=stack_samples,
            drop_last=train,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> CombinedLoader:  # type: ignore[override]
        """Labelled and unlabelled streams, one batch of each per step."""
        if self.train_dataset is None or self.train_sampler is None:
            raise RoadkdError("setup('fit') must run before train_dataloader()")
        loaders = {
            "labeled": self._loader(
                self.train_dataset,  # type: ignore[arg-type]
                self.train_sampler,
                self.batch_size,
                True,
            ),
            "unlabeled": self._loader(
                self.unlabeled_dataset, self.unlabeled_sampler, self.unlabeled_batch_size, True
            ),
        }
        return CombinedLoader(loaders, mode="max_size_cycle")

    def val_dataloader(self) -> DataLoader[Batch]:
        """Gridded patches inside the validation scenes, each pixel scored once."""
        dataset = ScoreEachPixelOnce(self.val_dataset, self.val_sampler)  # type: ignore[arg-type]
        return self._loader(dataset, self.val_sampler, self.batch_size, False)  # type: ignore[arg-type]

    def test_dataloader(self) -> DataLoader[Batch]:
        """Gridded patches inside the test scenes, each pixel scored once."""
        dataset = ScoreEachPixelOnce(self.test_dataset, self.test_sampler)  # type: ignore[arg-type]
        return self._loader(dataset, self.test_sampler, self.batch_size, False)  # type: ignore[arg-type]

    def predict_dataloader(self) -> DataLoader[Batch]:
        """Gridded patches covering the test scenes whole."""
        return self._loader(self.predict_dataset, self.predict_sampler, self.batch_size, False)  # type: ignore[arg-type]

    # -- device-side transforms ------------------------------------------------------------

    def _normalize(self, image: Tensor) -> Tensor:
        return normalize(image, self.mean, self.std)  # type: ignore[arg-type]

    def on_after_batch_transfer(self, batch: Batch, dataloader_idx: int) -> Batch:
        """Normalise images; augment training batches on the device.

        Labelled patches get the same random flip/rotation on image and mask. Unlabelled
        patches get a weak view (flip/rotation) and a strong photometric view of the same
        geometry, so pixel-wise consistency losses line up.
        """
        if "labeled" in batch:
            labeled, unlabeled = batch["labeled"], batch["unlabeled"]
            image, mask = random_flip_rotate(labeled["image"], labeled["mask"].long())
            weak, _ = random_flip_rotate(unlabeled["image"])
            strong = self.strong_aug((weak / 255.0).clamp(0, 1)) * 255.0
            return {
                "labeled": {"image": self._normalize(image), "mask": mask},
                "unlabeled": {
                    "image": self._normalize(weak),
                    "image_strong": self._normalize(strong),
                },
            }
        out = dict(batch)
        out["image"] = self._normalize(batch["image"])
        if "mask" in out:
            out["mask"] = out["mask"].long()
        return out
