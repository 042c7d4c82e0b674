"""Stand-ins the tests share: road probabilities drawn on a grid, and models that answer at once.

A stand-in model speaks the inference backend protocol (``in_channels``, ``data``,
``device``, ``predict``) without a network, so that a test knows every probability it gives.
"""

from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine
from scipy import ndimage
from skimage.draw import line

from roadkd.models.deploy import DataFacts


def drawn(
    size: int, segments: list[tuple[tuple[int, int], tuple[int, int]]], width: float
) -> np.ndarray:
    """Roads drawn along segments with a round brush ``width`` pixels wide (float32 0/1)."""
    centre = np.zeros((size, size), bool)
    for start, end in segments:
        centre[line(*start, *end)] = True
    road: np.ndarray = (ndimage.distance_transform_edt(~centre) <= width / 2).astype(np.float32)
    return road


def write_tiles(
    folder: Path, prob: np.ndarray, side: int, transform: Affine, crs: str
) -> list[Path]:
    """Cut a probability array into GeoTIFF tiles on the same grid."""
    tiles = []
    for row in range(0, prob.shape[0], side):
        for col in range(0, prob.shape[1], side):
            part = prob[row : row + side, col : col + side]
            path = folder / f"tile_{row}_{col}.tif"
            profile = {"driver": "GTiff", "count": 1, "dtype": "float32"}
            with rasterio.open(
                path,
                "w",
                width=part.shape[1],
                height=part.shape[0],
                crs=crs,
                transform=transform @ Affine.translation(col, row),
                **profile,
            ) as dst:
                dst.write(part[None])
            tiles.append(path)
    return tiles


class RoadBand:
    """Road probability is the first band / 255 (64 px tiles at 0.5 m)."""

    in_channels, device = 3, torch.device("cpu")
    data = DataFacts((0.0,) * 3, (1.0,) * 3, tile_size=64, resolution_m=0.5)

    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        return batch[:, 0] / 255


class TileMean:
    """A model whose every output depends on every pixel of its tile (64 px at 0.21 m).

    Any difference in how a tile is read or padded changes the whole tile's output, which
    a small network's receptive field would hide.
    """

    in_channels, device = 3, torch.device("cpu")
    data = DataFacts((0.0,) * 3, (1.0,) * 3, tile_size=64, resolution_m=0.21)

    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        overall = batch.mean(dim=(1, 2, 3), keepdim=True)[:, 0]
        return (overall + batch[:, 0]) / 510
