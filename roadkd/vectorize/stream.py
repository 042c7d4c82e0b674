"""Vectorise a probability raster while it is being made, as its rows arrive.

Tiled inference finishes a scene top to bottom. As soon as the rows under a row of blocks
(with its halo) are final, those blocks go to the vectorisation workers, and inference
goes on with the next rows. Memory holds the rows of one row of blocks as a boolean road
mask (one byte a pixel), not the scene.
"""

from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from itertools import groupby
from types import TracebackType
from typing import Self

import numpy as np

from .blocks import Block, BlockPieces, SceneGrid, plan_blocks, vectorize_block
from .core import RoadVectors, WorkSummary, road_pixels
from .options import VectorizeOptions
from .run import check_workers, in_block_order, seam_polygons_of, worker_pool
from .stitch import assemble, merge_seam_polygons


class StreamVectorizer:
    """Takes probability rows in order, vectorises finished blocks, stitches at the end.

    Use as a context manager (it owns a pool of worker processes when ``workers > 1``)::

        with StreamVectorizer(grid, options, block, workers) as stream:
            for row, values in rows:
                stream.push(row, values)
            vectors = stream.finish()
    """

    def __init__(
        self,
        grid: SceneGrid,
        options: VectorizeOptions | None = None,
        block: int | None = None,
        workers: int = 1,
    ) -> None:
        """Plan the blocks of a scene.

        Args:
            grid: the scene's grid.
            options: vectorisation settings.
            block: block side in pixels (None: the whole scene as one block).
            workers: processes that vectorise blocks (1: in the calling thread).
        """
        self.grid = grid
        self.options = options or VectorizeOptions()
        blocks = plan_blocks(grid, block, self.options)
        self.block_rows = [list(row) for _, row in groupby(blocks, key=lambda b: b.core[0])]
        self.n_blocks = len(blocks)
        self.workers = min(check_workers(workers), self.n_blocks)
        self._next = 0  # index of the next row of blocks to send
        self._rows = np.zeros((0, grid.width), bool)  # road mask rows kept, from _top
        self._top = 0
        self._end = 0  # rows received so far
        self._pool: ProcessPoolExecutor | None = None
        self._running: set[Future[BlockPieces]] = set()
        self._done: list[BlockPieces] = []

    def __enter__(self) -> Self:
        """Start the worker processes, if any."""
        if self.workers > 1:
            self._pool = worker_pool(self.workers)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Stop the workers (cancelling what has not started, after an error)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=error is not None)
            self._pool = None

    def push(self, row: int, values: np.ndarray) -> None:
        """Take the next rows of probability (NaN = nodata), starting at scene row ``row``.

        Raises:
            ValueError: if rows arrive out of order or with the wrong width.
        """
        if row != self._end or values.shape[1:] != (self.grid.width,):
            raise ValueError(f"rows must arrive in order: expected row {self._end}, got {row}")
        road = road_pixels(values, self.options.threshold)
        self._rows = np.concatenate([self._rows, road])
        self._end += len(values)
        self._send_ready()

    def finish(self) -> RoadVectors:
        """Vectorise what is left, wait for every block and stitch the scene.

        Raises:
            ValueError: if not every row of the scene was pushed.
        """
        if self._end != self.grid.height:
            raise ValueError(f"got {self._end} of {self.grid.height} rows")
        self._send_ready()
        while self._running:
            self._collect(wait(self._running, return_when=FIRST_COMPLETED).done)
        seams = (
            None
            if self._pool is None
            else self._pool.submit(
                merge_seam_polygons, seam_polygons_of(self._done), self.grid, self.options
            )
        )
        # a worker merges the seam polygons while this process joins the lines
        return assemble(in_block_order(self._done), self.grid, self.options, seams)

    def summary(self, seconds: float) -> WorkSummary:
        """Blocks, workers and throughput of this scene over ``seconds``."""
        return WorkSummary(self.n_blocks, self.workers, self.grid.megapixels, seconds)

    def _send_ready(self) -> None:
        """Send every row of blocks whose windows are complete, then drop rows no longer needed."""
        while self._next < len(self.block_rows):
            row = self.block_rows[self._next]
            top, _, rows, _ = row[0].window
            if top + rows > self._end:
                return
            for block in row:
                self._send(block)
            self._next += 1
            keep_from = (
                self.block_rows[self._next][0].window[0]
                if self._next < len(self.block_rows)
                else self._end
            )
            self._rows = self._rows[keep_from - self._top :].copy()
            self._top = keep_from

    def _send(self, block: Block) -> None:
        top, left, rows, cols = block.window
        road = self._rows[top - self._top : top - self._top + rows, left : left + cols]
        if self._pool is None:
            self._done.append(vectorize_block(road, block, self.grid, self.options))
            return
        # at most two blocks per worker in flight: inference waits rather than memory grows
        while len(self._running) >= 2 * self.workers:
            self._collect(wait(self._running, return_when=FIRST_COMPLETED).done)
        self._running.add(
            self._pool.submit(vectorize_block, road.copy(), block, self.grid, self.options)
        )

    def _collect(self, done: set[Future[BlockPieces]]) -> None:
        for future in done:
            self._running.discard(future)
            self._done.append(future.result())
