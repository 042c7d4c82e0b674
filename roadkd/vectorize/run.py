"""Vectorise a whole scene block by block, in this process or in parallel processes."""

import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Self

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from shapely.geometry import Polygon

from ..errors import RoadkdError
from ..grid import Grid
from ..progress import Counter, Progress, as_progress
from .blocks import Block, BlockPieces, plan_blocks, vectorize_block
from .core import road_pixels
from .options import DEFAULT_BLOCK, VectorizeOptions
from .raster import RoadRaster, open_road_raster, read_road_window
from .result import RoadVectors, WorkSummary
from .stitch import assemble, merge_seam_polygons


def default_workers() -> int:
    """Worker processes used when none are asked for: one per core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_workers(workers: int) -> int:
    """Validate a worker count.

    Raises:
        RoadkdError: if it is below one.
    """
    if workers < 1:
        raise RoadkdError(f"--workers must be at least 1, got {workers}")
    return workers


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of worker processes forked from a clean, warmed-up fork server.

    Not forked from this process, which may run threads (torch, GDAL, a reader) that a
    child would inherit in an unknown state; not spawned afresh either, which would make
    every worker import the vectoriser and compile skan's kernels again
    (``roadkd.vectorize.warm``).
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["roadkd.vectorize.warm"])
    return ProcessPoolExecutor(workers, mp_context=context)


class BlockWorkers:
    """Runs block tasks in worker processes, or in the calling thread with one worker.

    The base of the vectorisers that send blocks as their inputs become ready
    (:class:`~roadkd.vectorize.stream.StreamVectorizer`,
    :class:`~roadkd.vectorize.mosaic.MosaicVectorizer`). Use as a context manager: the
    pool lives while the ``with`` block runs.
    """

    def __init__(self, workers: int, n_blocks: int) -> None:
        """Use at most ``workers`` processes, and never more than there are blocks.

        Raises:
            RoadkdError: if ``workers`` is below one.
        """
        self.workers = min(check_workers(workers), n_blocks)
        self._pool: ProcessPoolExecutor | None = None
        self._running: set[Future[BlockPieces]] = set()
        self._done: list[BlockPieces] = []

    def __enter__(self) -> Self:
        """Start the worker processes, if any."""
        if self.workers > 1:
            self._pool = worker_pool(self.workers)
        return self

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        """Stop the workers (cancelling what has not started, after an error)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=error is not None)
            self._pool = None

    def _run(
        self, task: Callable[..., BlockPieces], *args: Any, in_flight: int | None = None
    ) -> None:
        """Run ``task(*args)`` here, or send it to a worker.

        With ``in_flight``, first wait until fewer than that many tasks are running.
        """
        if self._pool is None:
            self._done.append(task(*args))
            return
        while in_flight is not None and len(self._running) >= in_flight:
            self._collect(wait(self._running, return_when=FIRST_COMPLETED).done)
        self._running.add(self._pool.submit(task, *args))

    def _collect(self, done: set[Future[BlockPieces]]) -> None:
        for future in done:
            self._running.discard(future)
            self._done.append(future.result())

    def _wait_all(self) -> None:
        """Wait for every task sent."""
        while self._running:
            self._collect(wait(self._running, return_when=FIRST_COMPLETED).done)


def block_progress(total: int, progress: bool | Progress) -> AbstractContextManager[Counter]:
    """The one progress report of a vectorisation: blocks done, by any worker."""
    return as_progress(progress).counter("vectorize", total, "block")


def counted(pieces: Iterable[BlockPieces], bar: Counter) -> Iterator[BlockPieces]:
    """Pass results through, counting each on ``bar``."""
    for block in pieces:
        bar.update()
        yield block


def run_blocks(
    work: Callable[..., BlockPieces],
    tasks: Iterable[tuple[Any, ...]],
    pool: ProcessPoolExecutor | None = None,
    workers: int = 1,
) -> Iterator[BlockPieces]:
    """Run ``work(*task)`` for every task, yielding results as they finish.

    Without a pool everything runs here, one block at a time; with one, in its
    ``workers`` processes, with at most two tasks per worker in flight so that neither
    the tasks (which may hold arrays) nor the results pile up.
    """
    if pool is None:
        for task in tasks:
            yield work(*task)
        return
    running: set[Future[BlockPieces]] = set()
    for task in tasks:
        running.add(pool.submit(work, *task))
        if len(running) >= 2 * workers:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    for future in _as_done(running):
        yield future.result()


def _as_done(running: set[Future[BlockPieces]]) -> Iterator[Future[BlockPieces]]:
    while running:
        done, running = wait(running, return_when=FIRST_COMPLETED)
        yield from done


def in_block_order(pieces: Iterable[BlockPieces]) -> list[BlockPieces]:
    """Results sorted by block, so that the output never depends on which worker won."""
    return sorted(pieces, key=lambda block: block.index)


def vectorize_array(
    prob: np.ndarray,
    transform: Affine,
    crs: CRS | str | None,
    options: VectorizeOptions | None = None,
    block: int | None = None,
) -> RoadVectors:
    """Vectorise a road probability (or 0/1 mask) array.

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
    grid = Grid.of(transform, crs, prob.shape)
    blocks = plan_blocks(grid, block, opts)
    pieces = (
        vectorize_block(road_pixels(prob[b.window_slices], opts.threshold), b, grid, opts)
        for b in blocks
    )
    return assemble(pieces, grid, opts)


def vectorize_raster_block(
    raster: RoadRaster,
    block: Block,
    grid: Grid,
    options: VectorizeOptions,
    lines: bool = True,
    surfaces: bool = True,
) -> BlockPieces:
    """Read one block's window of a raster and vectorise it (a worker's task)."""
    values = read_road_window(raster, block.window)
    road = road_pixels(values, options.threshold)
    return vectorize_block(road, block, grid, options, lines, surfaces)


def seam_polygons_of(pieces: Iterable[BlockPieces]) -> list[Polygon]:
    """The polygons of every block that touch a seam, in block order."""
    return [polygon for block in in_block_order(pieces) for polygon in block.seam_polygons]


def vectorize_in_pool(
    pool: ProcessPoolExecutor,
    workers: int,
    raster: RoadRaster,
    blocks: list[Block],
    grid: Grid,
    options: VectorizeOptions,
    bar: Counter,
) -> RoadVectors:
    """Vectorise a raster's blocks in a pool and stitch them, keeping every worker busy.

    Merging the surface polygons across seams needs every block's polygons and runs in one
    process, after the blocks. So the last ``workers`` blocks run as two tasks each: their
    surfaces first, then (once every block's surfaces are in) the seam merge goes to one
    worker while the others make those blocks' lines. Only joining the lines waits here.
    The late blocks' surfaces are made here, in a thread, while the workers start (a fork
    server imports the vectoriser and compiles its kernels, seconds during which this
    process would only wait); surfaces need neither.
    """
    late = blocks[-workers:] if len(blocks) > workers else []
    early = blocks[: len(blocks) - len(late)]
    done: list[BlockPieces] = []
    with ThreadPoolExecutor(1) as here:
        late_surfaces = here.submit(
            lambda: [vectorize_raster_block(raster, b, grid, options, False) for b in late]
        )
        tasks = [(raster, b, grid, options) for b in early]
        done += counted(run_blocks(vectorize_raster_block, tasks, pool, workers), bar)
        done += late_surfaces.result()
    seams = pool.submit(merge_seam_polygons, seam_polygons_of(done), grid, options)
    rest = [(raster, b, grid, options, True, False) for b in late]
    done += counted(run_blocks(vectorize_raster_block, rest, pool, workers), bar)
    return assemble(in_block_order(done), grid, options, seams)


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
    start = time.perf_counter()
    opts = options or VectorizeOptions()
    check_workers(workers)
    raster = open_road_raster(path)
    grid = Grid.of(raster.transform, raster.crs, (raster.height, raster.width))
    blocks = plan_blocks(grid, block, opts)
    tasks = ((raster, b, grid, opts) for b in blocks)
    with block_progress(len(blocks), progress) as bar:
        if scheduler is None:
            used = min(workers, len(blocks))
            if used == 1:
                pieces = in_block_order(counted(run_blocks(vectorize_raster_block, tasks), bar))
                vectors = assemble(pieces, grid, opts)
            else:
                with worker_pool(used) as pool:
                    vectors = vectorize_in_pool(pool, used, raster, blocks, grid, opts, bar)
        else:
            from .cluster import cluster_workers, connect, run_blocks_on_cluster

            with connect(scheduler) as client:
                used = cluster_workers(client)
                done = run_blocks_on_cluster(client, vectorize_raster_block, tasks)
                pieces = in_block_order(counted(done, bar))
            vectors = assemble(pieces, grid, opts)
    seconds = time.perf_counter() - start
    vectors.work = WorkSummary(len(blocks), used, grid.megapixels, seconds)
    return vectors
