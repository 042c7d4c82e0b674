#!/usr/bin/env python3
"""Build a tiny fixture in the layout of the public RoadNet (Ottawa) release.

Folders ``1/`` .. ``N/`` each hold ``Ottawa-N.tif`` (RGB uint8, no CRS, like the release)
and ``segmentation.png``, ``edge.png``, ``centerline.png`` with labels drawn in red on
white. Tests call :func:`make_release` into ``tmp_path``; run this file to write one here.
"""

import warnings
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image
from rasterio.errors import NotGeoreferencedWarning

RED = np.array([255, 0, 0], dtype=np.uint8)


def scene_labels(size: int, number: int) -> dict[str, np.ndarray]:
    """Return 0/1 surface, edge and centerline masks of a plus-shaped road."""
    surface = np.zeros((size, size), dtype=np.uint8)
    centre, half = size // 2 + number % 3 - 1, max(2, size // 8)
    surface[centre - half : centre + half + 1, :] = 1
    surface[:, centre - half : centre + half + 1] = 1
    centerline = np.zeros_like(surface)
    centerline[centre, :] = 1
    centerline[:, centre] = 1
    inner = np.zeros_like(surface)
    inner[1:-1, 1:-1] = (
        surface[1:-1, 1:-1]
        & surface[:-2, 1:-1]
        & surface[2:, 1:-1]
        & surface[1:-1, :-2]
        & surface[1:-1, 2:]
    )
    edge = surface & (1 - inner)
    return {"segmentation": surface, "edge": edge, "centerline": centerline}


def red_on_white(mask: np.ndarray) -> np.ndarray:
    """Draw a 0/1 mask as the release does: red strokes on a white background."""
    rgb = np.full((*mask.shape, 3), 255, dtype=np.uint8)
    rgb[mask.astype(bool)] = RED
    return rgb


def make_release(root: Path, scenes: int = 20, size: int = 32) -> Path:
    """Write a release-layout fixture with ``scenes`` scenes of ``size`` px.

    Args:
        root: folder to write into.
        scenes: number of scene folders (``1/`` .. ``scenes/``).
        size: side length of every scene.

    Returns:
        ``root``.
    """
    rng = np.random.default_rng(0)
    for number in range(1, scenes + 1):
        folder = root / str(number)
        folder.mkdir(parents=True, exist_ok=True)
        labels = scene_labels(size, number)
        image = rng.integers(60, 200, (3, size, size), dtype=np.uint8)
        image[:, labels["segmentation"].astype(bool)] = 90
        profile = {
            "driver": "GTiff",
            "count": 3,
            "height": size,
            "width": size,
            "dtype": "uint8",
        }
        # Like the release: no CRS, no transform (rasterio warns about that; expected).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(folder / f"Ottawa-{number}.tif", "w", **profile) as dst:
                dst.write(image)
        for name, mask in labels.items():
            Image.fromarray(red_on_white(mask)).save(folder / f"{name}.png")
    return root


if __name__ == "__main__":
    make_release(Path(__file__).parent / "release", scenes=20, size=32)
