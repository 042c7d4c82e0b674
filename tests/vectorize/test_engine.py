"""The one vectoriser: blocks go as their places complete, whatever produces the pixels."""

from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from scipy import ndimage
from skimage.draw import line

from roadkd.grid import Grid, PixelWindow
from roadkd.vectorize import VectorizeOptions, vectorize_array
from roadkd.vectorize.blocks import halo_px
from roadkd.vectorize.engine import Network, Vectorizer
from roadkd.vectorize.executors import InProcess, local_executor

RES = 0.5
TRANSFORM = Affine(RES, 0, 445000.0, 0, -RES, 5030000.0)
CRS = "EPSG:32618"


def roads(size: int = 300) -> np.ndarray:
    """Two roads 10 px wide across a square scene."""
    centre = np.zeros((size, size), bool)
    for start, end in [((20, 0), (size - 20, size - 1)), ((size // 2, 0), (size // 2, size - 1))]:
        centre[line(*start, *end)] = True
    return (ndimage.distance_transform_edt(~centre) <= 5).astype(np.float32)


def test_streamed_blocks_go_as_soon_as_the_rows_under_their_windows_arrive() -> None:
    prob = roads()
    network = Network.plan(Grid.of(TRANSFORM, CRS, prob.shape), 100, VectorizeOptions())
    first_row_bottom = 100 + halo_px(VectorizeOptions(), RES)
    with Vectorizer(network, InProcess()) as vectorizer:
        vectorizer.push(0, prob[: first_row_bottom - 1])
        assert vectorizer.waiting == 9
        vectorizer.push(first_row_bottom - 1, prob[first_row_bottom - 1 : first_row_bottom])
        assert vectorizer.waiting == 6  # the first row of blocks is done
        with pytest.raises(ValueError, match="still wait"):
            vectorizer.finish()
        vectorizer.push(first_row_bottom, prob[first_row_bottom:])
        streamed = vectorizer.finish()
    whole = vectorize_array(prob, TRANSFORM, CRS)
    assert list(streamed.centerlines["length_m"]) == list(
        vectorize_array(prob, TRANSFORM, CRS, block=100).centerlines["length_m"]
    )
    assert len(streamed.centerlines) == len(whole.centerlines) == 5


def test_a_process_pool_gives_what_this_process_gives(tmp_path: Path) -> None:
    prob = roads()
    grid = Grid.of(TRANSFORM, CRS, prob.shape)
    network = Network.plan(grid, 100, VectorizeOptions())
    results = []
    for workers in (1, 2):
        with local_executor(workers, len(network.blocks)) as executor:
            assert executor.workers == workers
            with Vectorizer(network, executor) as vectorizer:
                for row in range(0, 300, 64):
                    vectorizer.push(row, prob[row : row + 64])
                results.append(vectorizer.finish())
    here, pool = results
    assert pool.work is not None and pool.work.workers == 2
    assert list(pool.centerlines["length_m"]) == list(here.centerlines["length_m"])
    assert pool.centerlines.geometry.geom_equals_exact(here.centerlines.geometry, 0).all()
    assert list(pool.surface["area_m2"]) == list(here.surface["area_m2"])


def test_blocks_over_no_place_are_left_out() -> None:
    grid = Grid.of(TRANSFORM, CRS, (300, 900))
    apart = [PixelWindow(0, 0, 300, 300), PixelWindow(0, 600, 300, 300)]
    network = Network.plan(grid, 100, VectorizeOptions(), apart)
    # the middle column of blocks lies between the scenes, beyond either's halo
    assert len(network.blocks) == 27 - 3
    assert all(network.needs[k] for k in range(len(network.blocks)))
    assert 4 not in {b.core.col // 100 for b in network.blocks}
