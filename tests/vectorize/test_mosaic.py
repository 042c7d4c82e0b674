"""Adjacent rasters vectorised as one network, as their rasters are finished."""

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from scipy import ndimage
from skimage.draw import line

from roadkd.grid import Grid
from roadkd.vectorize.engine import Network, Vectorizer
from roadkd.vectorize.executors import local_executor
from roadkd.vectorize.mosaic import vectorize_mosaic
from roadkd.vectorize.options import VectorizeOptions


def test_mosaic_blocks_are_vectorised_as_their_rasters_are_finished(tmp_path: Path) -> None:
    """Blocks over a finished scene go at once; the whole equals the mosaic's vectors."""
    rows, cols = 300, 600
    centre = np.zeros((rows, cols), bool)
    for start, end in [((20, 0), (280, 599)), ((150, 0), (150, 599))]:
        centre[line(*start, *end)] = True
    prob = (ndimage.distance_transform_edt(~centre) <= 5).astype(np.float32)
    transform = Affine(0.5, 0, 445000.0, 0, -0.5, 5030000.0)
    halves = []
    for k, col in enumerate((0, 300)):  # two scenes side by side
        path = tmp_path / f"half{k}.tif"
        profile = {"driver": "GTiff", "width": 300, "height": rows, "count": 1, "dtype": "float32"}
        with rasterio.open(
            path, "w", crs="EPSG:32618", transform=transform @ Affine.translation(col, 0), **profile
        ) as dst:
            dst.write(prob[None, :, col : col + 300])
        halves.append(path)
    expected = vectorize_mosaic(halves, block=100)
    grid = Grid.of(transform, "EPSG:32618", (rows, cols))
    places = [(0, 0, rows, 300), (0, 300, rows, 300)]
    network = Network.plan(grid, 100, VectorizeOptions(), places)
    with local_executor(2, len(network.blocks)) as pool, Vectorizer(network, pool) as mosaic:
        assert mosaic.waiting == 18
        mosaic.finished(0, halves[0])
        # the blocks whose windows (core and halo) lie in the first scene are sent
        assert mosaic.waiting == 12
        mosaic.finished(1, halves[1])
        assert mosaic.waiting == 0
        vectors = mosaic.finish()
    assert vectors.work is not None and vectors.work.blocks == 18
    assert list(vectors.centerlines["length_m"]) == list(expected.centerlines["length_m"])
    assert list(vectors.surface["area_m2"]) == list(expected.surface["area_m2"])
