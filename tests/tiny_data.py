"""A tiny datamodule for the training tests, named by class path ``tiny_data.TinyRoadDataModule``.

It follows the batch contract of docs/architecture.md with random stripe "roads", so tasks
and ``roadkd train`` can be exercised without rasters; LightningCLI configs of the tests
name it by class path (``tests`` is on the path of the tests and of their subprocesses).
"""

from typing import Any

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from roadkd.imagery import BandPercentiles
from roadkd.models.deploy import DataFacts
from roadkd.tasks.optimization import Optimization

#: The optimiser settings every test task trains with.
OPT = {"optim": Optimization(optimizer="adamw", lr=1e-3, backbone_lr=None)}


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
        percentiles = BandPercentiles((10.0, 20.0, 30.0), (200.0, 210.0, 220.0))
        return DataFacts(self.mean, self.std, self.patch_size, 0.3, percentiles)

    def train_dataloader(self) -> DataLoader[dict[str, Any]]:
        return DataLoader(
            _Tiles(self.length, self.patch_size, 0, "train"), batch_size=self.batch_size
        )

    def val_dataloader(self) -> DataLoader[dict[str, Any]]:
        return DataLoader(_Tiles(4, self.patch_size, 1, "val"), batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader[dict[str, Any]]:
        return DataLoader(_Tiles(4, self.patch_size, 2, "test"), batch_size=self.batch_size)
