"""Vectorise an array or a raster block by block, in this process or in parallel.

Both go through the one vectoriser (:mod:`roadkd.vectorize.engine`): an array is a place
whose rows are all there, a raster a place that is complete from the start.
"""

from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from ..errors import RoadkdError
from ..grid import Grid
from ..progress import Progress
from .engine import Network, Vectorizer
from .executors import InProcess, check_workers, open_executor
from .options import DEFAULT_BLOCK, VectorizeOptions
from .raster import open_road_raster
from .result import RoadVectors


def vectorize_array(
    prob: np.ndarray,
    transform: Affine,
    crs: CRS | str | None,
    options: VectorizeOptions | None = None,
    block: int | None = None,
) -> RoadVectors:
    """Vectorise a road probability (or 0/1 mask) array, in this process.

    Args:
        prob: (H, W) road probability in [0, 1] (NaN = nodata) or a 0/1 mask.
        transform: the raster's affine transform.
        crs: the raster's CRS (None: units are taken as metres).
        options: vectorisation settings.
        block: work in blocks of this many pixels and stitch them (None: in one piece;
            the result is the same).

    Returns:
        Centrelines, surface polygons and the centreline graph.
    """
    opts = options or VectorizeOptions()
    if prob.ndim != 2:
        raise RoadkdError(f"expected a single-band (H, W) raster, got shape {prob.shape}")
    network = Network.plan(Grid.of(transform, crs, prob.shape), block, opts)
    with Vectorizer(network, InProcess(), opts) as vectorizer:
        vectorizer.push(0, prob)
        return vectorizer.finish()


def vectorize_raster(
    path: str | Path,
    options: VectorizeOptions | None = None,
    block: int | None = DEFAULT_BLOCK,
    workers: int = 1,
    progress: bool | Progress = False,
    scheduler: str | None = None,
) -> RoadVectors:
    """Vectorise a probability or mask raster (band 1), block by block.

    Memory holds one block per worker (and the vectors), whatever the raster's size.
    With ``scheduler`` the blocks run on a Dask distributed cluster instead, whose
    workers must see ``path`` (``roadkd.vectorize.cluster``).

    Args:
        path: raster file (GeoTIFF, VRT, anything GDAL reads).
        options: vectorisation settings.
        block: block side in pixels (None: the whole raster as one block).
        workers: processes that vectorise blocks in parallel (1: this process).
        progress: report blocks done (True: a bar on stderr; see :mod:`roadkd.progress`).
        scheduler: address of a Dask scheduler (``tcp://host:8786``); ``workers`` is
            then ignored.

    Returns:
        Centrelines, surface polygons and the centreline graph, in the raster's CRS.

    Raises:
        RoadkdError: for a missing, unreadable or ungeoreferenced raster, or bad values.
    """
    opts = options or VectorizeOptions()
    check_workers(workers)
    raster = open_road_raster(path)
    grid = Grid.of(raster.transform, raster.crs, (raster.height, raster.width))
    network = Network.plan(grid, block, opts)
    with (
        open_executor(workers, scheduler, len(network.blocks)) as executor,
        Vectorizer(network, executor, opts, progress) as vectorizer,
    ):
        vectorizer.finished(0, raster)
        return vectorizer.finish()
