"""Semi-supervised GeoDataModule over roadkd's dataset layout."""

import math
from functools import cached_property
from pathlib import Path
from typing import Any

import kornia.augmentation as K
import numpy as np
import rasterio
import shapely
import torch
from lightning.pytorch.utilities.combined_loader import CombinedLoader
from shapely.geometry.base import BaseGeometry
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchgeo.datamodules import GeoDataModule
from torchgeo.datasets import GeoDataset, IntersectionDataset, stack_samples
from torchgeo.samplers import GriddedPatchSampler, RandomPatchSampler

from ..datasets.layout import SPLITS, image_path, mask_path, read_splits
from ..datasets.road_imagery import RoadImagery
from ..datasets.road_mask import RoadMask
from ..errors import RoadkdError
from ..ground import ground_resolution_m
from ..imagery import SAME_RESOLUTION_TOLERANCE
from ..models.deploy import DataFacts
from ..normalization import DEFAULT_MEAN, DEFAULT_STD, normalize
from .labeled_split import BlockSplit, split_blocks

Batch = dict[str, Any]


def _bounds(dataset: GeoDataset) -> tuple[float, float, float, float]:
    x, y, _ = dataset.bounds
    return (float(x.start), float(y.start), float(x.stop), float(y.stop))


def dataset_resolution_m(root: str | Path) -> float:
    """Ground resolution of a dataset, in metres per pixel, measured on its rasters.

    Every scene's imagery is measured on the ground (:func:`roadkd.ground.ground_resolution_m`,
    right in feet and degrees too); they must agree within 1 %. If ``splits.json`` states
    ``resolution_m`` it must agree with the rasters too, and is returned (the nominal value
    rather than its geodesic measure, e.g. 0.21 for 0.2099 in UTM).

    Args:
        root: dataset folder.

    Returns:
        Metres per pixel.

    Raises:
        RoadkdError: if the scenes disagree, or disagree with ``splits.json``, or none exists.
    """
    splits = read_splits(root)
    scenes = list(dict.fromkeys(s for split in SPLITS for s in splits[split]))
    if not scenes:
        raise RoadkdError(f"{Path(root) / 'splits.json'} names no scene: its resolution is unknown")
    measured: dict[str, float] = {}
    for scene in scenes:
        with rasterio.open(image_path(Path(root), scene)) as src:
            measured[scene] = ground_resolution_m(src.transform, src.crs, (src.height, src.width))
    low, high = min(measured.values()), max(measured.values())
    if high > low * (1 + SAME_RESOLUTION_TOLERANCE):
        listing = ", ".join(f"{k} {v:.4g}" for k, v in measured.items())
        raise RoadkdError(
            f"the scenes of {root} differ in resolution ({listing} m/px): bring them to one "
            "resolution first"
        )
    stated = splits.get("resolution_m")
    if stated is None:
        return round(float(np.median(list(measured.values()))), 4)
    if abs(float(stated) / low - 1) > SAME_RESOLUTION_TOLERANCE:
        raise RoadkdError(
            f"{Path(root) / 'splits.json'} states resolution_m {stated} but its rasters are "
            f"{low:.4g} m/px"
        )
    return float(stated)


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

    The training scenes are cut into blocks; a seeded ``labeled_ratio`` share of them keeps
    its labels and feeds the labelled stream, the rest (plus any imagery-only scenes) feeds
    the unlabelled stream, so the two never share a pixel. Training batches are
    ``{"labeled": {"image", "mask"}, "unlabeled": {"image", "image_strong"}}``; val and test
    use a gridded sampler over held-out scenes; predict covers the test scenes whole.
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
            block_size: side in pixels of the blocks the split works on
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
        if mask not in ("surface", "edge", "centerline"):
            raise RoadkdError(f"mask must be surface, edge or centerline, got {mask!r}")
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

    def data_facts(self) -> DataFacts:
        """Normalisation, patch size and resolution for every checkpoint's deploy bundle.

        Raises:
            RoadkdError: if the dataset's resolution cannot be known or is not one value.
        """
        patch = self.patch_size if isinstance(self.patch_size, int) else max(self.patch_size)
        return DataFacts(self.mean, self.std, int(patch), self.resolution_m)  # type: ignore[arg-type]

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
            self.val_sampler = GriddedPatchSampler(
                self.val_dataset, size=self.patch_size, stride=self.val_stride
            )
        if stage == "test":
            if not splits["test"]:
                raise RoadkdError(f"{self.root / 'splits.json'} has no test scenes")
            self.test_dataset = self._labelled(splits["test"])
            self.test_sampler = GriddedPatchSampler(
                self.test_dataset, size=self.patch_size, stride=self.val_stride
            )
        if stage == "predict":
            scenes = splits["test"] or splits["val"]
            self.predict_dataset = self._imagery(scenes)
            self.predict_sampler = GriddedPatchSampler(
                self.predict_dataset, size=self.patch_size, stride=self.val_stride
            )

    def _setup_train(self, train: list[str], unlabeled: list[str]) -> None:
        scene_bounds = [_bounds(self._imagery([s])) for s in train]
        res = self._imagery(train[:1]).res[0]
        self.split = split_blocks(
            scene_bounds, self.block_size * res, self.labeled_ratio, self.split_seed
        )
        if not self.split.labeled:
            raise RoadkdError(
                f"training scenes are smaller than one block of {self.block_size} px: "
                "lower block_size or patch_size"
            )
        self.train_dataset = self._labelled(train)
        labeled_area = self.split.labeled_area
        self.train_sampler = self._random_sampler(
            self.train_dataset, labeled_area, self.length, "labelled"
        )
        # With every block labelled, the unlabelled stream reuses all training imagery.
        unlabeled_area: BaseGeometry = (
            self.split.unlabeled_area
            if self.split.unlabeled
            else shapely.union_all([shapely.box(*b) for b in scene_bounds])
        )
        extra = [_bounds(self._imagery([s])) for s in unlabeled]
        if extra:
            unlabeled_area = unlabeled_area.union(
                shapely.union_all([shapely.box(*b) for b in extra])
            )
        self.unlabeled_dataset = self._imagery(train + unlabeled)
        batches = len(self.train_sampler) // self.batch_size
        self.unlabeled_sampler = self._random_sampler(
            self.unlabeled_dataset,
            unlabeled_area,
            max(1, batches) * self.unlabeled_batch_size,
            "unlabelled",
        )

    def _random_sampler(
        self, dataset: GeoDataset, area: BaseGeometry, length: int | None, what: str
    ) -> RandomPatchSampler:
        patch = self.patch_size if isinstance(self.patch_size, int) else max(self.patch_size)
        half_diagonal = math.sqrt(2) * patch * dataset.res[0] / 2
        if area.buffer(-half_diagonal).is_empty:
            raise RoadkdError(
                f"the {what} area has no room for {self.patch_size} px patches: raise "
                f"block_size (now {self.block_size}) or labeled_ratio, or lower patch_size"
            )
        return RandomPatchSampler(
            dataset,
            size=self.patch_size,
            length=length,
            roi=area,  # type: ignore[arg-type]
            generator=np.random.default_rng(self.split_seed),
        )

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
        """Gridded patches over the validation scenes."""
        return self._loader(self.val_dataset, self.val_sampler, self.batch_size, False)  # type: ignore[arg-type]

    def test_dataloader(self) -> DataLoader[Batch]:
        """Gridded patches over the test scenes."""
        return self._loader(self.test_dataset, self.test_sampler, self.batch_size, False)  # type: ignore[arg-type]

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
