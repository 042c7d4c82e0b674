"""Vectorise a probability raster while it is being made, as its rows arrive.

Tiled inference finishes a scene top to bottom. As soon as the rows under a row of blocks
(with its halo) are final, those blocks go to the vectorisation workers, and inference
goes on with the next rows. Memory holds the rows of one row of blocks as a boolean road
mask (one byte a pixel), not the scene.
"""

from itertools import groupby

import numpy as np

from ..grid import Grid
from .blocks import Block, plan_blocks, vectorize_block
from .core import road_pixels
from .options import VectorizeOptions
from .result import RoadVectors, WorkSummary
from .run import BlockWorkers, in_block_order, seam_polygons_of
from .stitch import assemble, merge_seam_polygons


class StreamVectorizer(BlockWorkers):
    """Takes probability rows in order, vectorises finished blocks, stitches at the end.

    Use as a context manager (it owns a pool of worker processes when ``workers > 1``)::

        with StreamVectorizer(grid, options, block, workers) as stream:
            for row, values in rows:
                stream.push(row, values)
            vectors = stream.finish()
    """

    def __init__(
        self,
        grid: Grid,
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
        super().__init__(workers, self.n_blocks)
        self._next = 0  # index of the next row of blocks to send
        # road mask rows kept, from scene row _top to _end, at the start of a buffer that
        # is filled in place (appending by concatenation would copy it at every push)
        self._rows = np.zeros((0, grid.width), bool)
        self._top = 0
        self._end = 0  # rows received so far

    def push(self, row: int, values: np.ndarray) -> None:
        """Take the next rows of probability (NaN = nodata), starting at scene row ``row``.

        Raises:
            ValueError: if rows arrive out of order or with the wrong width.
        """
        if row != self._end or values.shape[1:] != (self.grid.width,):
            raise ValueError(f"rows must arrive in order: expected row {self._end}, got {row}")
        kept, arriving = self._end - self._top, len(values)
        if kept + arriving > len(self._rows):
            grown = np.empty((kept + arriving, self.grid.width), bool)
            grown[:kept] = self._rows[:kept]
            self._rows = grown
        self._rows[kept : kept + arriving] = road_pixels(values, self.options.threshold)
        self._end += arriving
        self._send_ready()

    def finish(self) -> RoadVectors:
        """Vectorise what is left, wait for every block and stitch the scene.

        Raises:
            ValueError: if not every row of the scene was pushed.
        """
        if self._end != self.grid.height:
            raise ValueError(f"got {self._end} of {self.grid.height} rows")
        self._send_ready()
        self._wait_all()
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
            kept = self._rows[keep_from - self._top : self._end - self._top]
            self._rows[: len(kept)] = kept
            self._top = keep_from

    def _send(self, block: Block) -> None:
        top, left, rows, cols = block.window
        road = self._rows[top - self._top : top - self._top + rows, left : left + cols]
        # A worker gets its own copy: the kept rows are overwritten in place once sent.
        road = road if self._pool is None else road.copy()
        # at most two blocks per worker in flight: inference waits rather than memory grows
        self._run(vectorize_block, road, block, self.grid, self.options, in_flight=2 * self.workers)
