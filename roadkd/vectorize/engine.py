"""One vectoriser for every block job: a network of blocks over places that producers fill.

A :class:`Network` is a grid (one scene, or the mosaic of scenes on one pixel grid) cut
into blocks (:func:`~roadkd.vectorize.blocks.plan_blocks`), and the places its pixels come
from: windows of the grid that a producer completes. A place is completed row by row
(:meth:`Vectorizer.push`: tiled inference streaming a scene's probability, kept here as a
road mask) or at once (:meth:`Vectorizer.finished`: a probability raster written, by this
process or by a cluster worker). A block is vectorised as soon as every place under its
window (core and halo) is complete over the window's rows; its task runs on an
:class:`~roadkd.vectorize.executors.Executor` (here, a process pool or Dask), and
:meth:`Vectorizer.finish` stitches the pieces in block order, whoever made them, so the
result never depends on the executor, the producer or the block size.

Every block job goes through here: ``vectorize_array``, ``vectorize_raster``,
``roadkd vectorize`` and ``roadkd predict`` (locally or on a cluster). Progress is
counted here only: one ``"vectorize"`` counter of blocks.
"""

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
from shapely.geometry import Polygon

from ..grid import Grid, PixelWindow
from ..progress import Counter, Progress, as_progress
from .blocks import Block, BlockPieces, plan_blocks, vectorize_block
from .core import road_pixels
from .executors import Executor
from .options import VectorizeOptions
from .raster import RoadRaster, Source, read_sources
from .result import RoadVectors, WorkSummary
from .stitch import assemble, merge_seam_polygons


def vectorize_sources(
    block: Block,
    grid: Grid,
    options: VectorizeOptions,
    sources: list[Source],
    lines: bool = True,
    surfaces: bool = True,
) -> BlockPieces:
    """Read one block's window from the rasters under it and vectorise it (a worker's task)."""
    values = read_sources(block.window, sources)
    road = road_pixels(values, options.threshold)
    return vectorize_block(road, block, grid, options, lines, surfaces)


def in_block_order(pieces: list[BlockPieces]) -> list[BlockPieces]:
    """Results sorted by block, so that the output never depends on which worker won."""
    return sorted(pieces, key=lambda block: block.index)


def seam_polygons_of(pieces: list[BlockPieces]) -> list[Polygon]:
    """The polygons of every block that touch a seam, in block order."""
    return [polygon for block in in_block_order(pieces) for polygon in block.seam_polygons]


@dataclass(frozen=True)
class Network:
    """Blocks of one grid, and the places their pixels come from.

    Attributes:
        grid: the grid (a scene, or a mosaic of scenes on one pixel grid).
        places: windows of the grid that producers complete (a scene in a mosaic, a
            probability block written by a cluster worker, or the whole grid).
        blocks: the blocks that have some place under their window, in grid order.
        needs: for each block (by position in ``blocks``), the places under its window.
    """

    grid: Grid
    places: tuple[PixelWindow, ...]
    blocks: tuple[Block, ...]
    needs: tuple[tuple[int, ...], ...]

    @classmethod
    def plan(
        cls,
        grid: Grid,
        block: int | None,
        options: VectorizeOptions,
        places: "list[PixelWindow] | list[tuple[int, int, int, int]] | None" = None,
    ) -> "Network":
        """Cut ``grid`` into blocks of ``block`` pixels over ``places`` (None: the whole grid).

        A block over no place (between the scenes of a mosaic) has nothing to vectorise
        and is left out.

        Raises:
            RoadkdError: if ``block`` is not a positive number of pixels.
        """
        windows = (grid.window,) if places is None else tuple(PixelWindow(*p) for p in places)
        kept, needs = [], []
        for b in plan_blocks(grid, block, options):
            under = tuple(k for k, place in enumerate(windows) if b.window.overlaps(place))
            if under:
                kept.append(b)
                needs.append(under)
        return cls(grid, windows, tuple(kept), tuple(needs))


class _Rows:
    """The road mask rows of a place that blocks still need, in a buffer filled in place."""

    def __init__(self, width: int) -> None:
        self.mask = np.zeros((0, width), bool)
        self.top = 0  # place row of the buffer's first row
        self.end = 0  # rows received so far

    def append(self, road: np.ndarray) -> None:
        """Add the next rows (appending by concatenation would copy them at every push)."""
        kept, arriving = self.end - self.top, len(road)
        if kept + arriving > len(self.mask):
            grown = np.empty((kept + arriving, self.mask.shape[1]), bool)
            grown[:kept] = self.mask[:kept]
            self.mask = grown
        self.mask[kept : kept + arriving] = road
        self.end += arriving

    def window(self, window: PixelWindow) -> np.ndarray:
        """A view of ``window`` (place pixels), which must lie in the kept rows."""
        rows = slice(window.row - self.top, window.bottom - self.top)
        return self.mask[rows, window.col : window.right]

    def keep_from(self, row: int) -> None:
        """Forget the rows above ``row``."""
        row = min(max(row, self.top), self.end)
        if row == self.top:
            return
        kept = self.mask[row - self.top : self.end - self.top]
        self.mask[: len(kept)] = kept
        self.top = row


class Vectorizer:
    """Vectorises a network's blocks as their places complete, and stitches them.

    Use as a context manager (it owns the progress counter and the thread that starts the
    last blocks' surfaces)::

        network = Network.plan(grid, block, options)
        with local_executor(workers, len(network.blocks)) as executor, Vectorizer(
            network, executor, options
        ) as vectorizer:
            for row, values in rows:
                vectorizer.push(row, values)
            vectors = vectorizer.finish()
    """

    def __init__(
        self,
        network: Network,
        executor: Executor,
        options: VectorizeOptions | None = None,
        progress: bool | Progress = False,
    ) -> None:
        """Vectorise ``network`` on ``executor``.

        Args:
            network: the blocks and their places.
            executor: where the block tasks run.
            options: vectorisation settings (those the network was planned with).
            progress: report blocks done (True: a bar on stderr; see :mod:`roadkd.progress`).
        """
        self.network = network
        self.executor = executor
        self.options = options or VectorizeOptions()
        self._progress = as_progress(progress)
        self._start = time.perf_counter()
        places = network.places
        self._complete = [0] * len(places)  # rows of each place complete, from its top
        self._rasters: list[str | Path | RoadRaster | None] = [None] * len(places)
        self._rows: dict[int, _Rows] = {}
        self._waiting = list(range(len(network.blocks)))
        n_blocks = len(network.blocks)
        split = executor.splits_last and n_blocks > executor.workers
        self._last = set(range(n_blocks - executor.workers, n_blocks)) if split else set()
        self._held: list[int] = []  # last blocks ready, their lines not sent yet
        self._surfaces_here: list[Future[BlockPieces]] = []
        self._running: set[Any] = set()
        self._done: list[BlockPieces] = []
        self._stack = ExitStack()
        self._bar: Counter | None = None
        self._here: ThreadPoolExecutor | None = None

    def __enter__(self) -> Self:
        """Start the progress counter."""
        self._bar = self._stack.enter_context(
            self._progress.counter("vectorize", len(self.network.blocks), "block")
        )
        if self._last:
            self._here = self._stack.enter_context(ThreadPoolExecutor(1))
        return self

    def __exit__(self, *error: object) -> None:
        """Close the counter and the thread."""
        self._stack.close()

    @property
    def waiting(self) -> int:
        """Blocks not ready yet: some place under them is not complete."""
        return len(self._waiting)

    def push(self, row: int, values: np.ndarray, place: int = 0) -> None:
        """Take the next rows of a place's probability (NaN = nodata), from place row ``row``.

        Raises:
            ValueError: if rows arrive out of order or with the wrong width.
        """
        window = self.network.places[place]
        if row != self._complete[place] or values.shape[1:] != (window.cols,):
            raise ValueError(
                f"rows must arrive in order: expected row {self._complete[place]}, got {row}"
            )
        rows = self._rows.setdefault(place, _Rows(window.cols))
        rows.append(road_pixels(values, self.options.threshold))
        self._complete[place] = rows.end
        self._send_ready()

    def finished(self, place: int, raster: str | Path | RoadRaster) -> None:
        """Place ``place`` is complete: its probability is the raster ``raster``."""
        self._rasters[place] = raster
        self._complete[place] = self.network.places[place].rows
        self._send_ready()

    def finish(self) -> RoadVectors:
        """Wait for every block and stitch the network.

        The last blocks' surfaces were made here as they became ready; once every other
        block is in, the seam polygons are merged by a worker while the last blocks' lines
        are made, and only joining the lines waits here.

        Raises:
            ValueError: if some place was never completed.
        """
        if self._waiting:
            raise ValueError(f"{len(self._waiting)} blocks still wait for their pixels")
        self._collect(wait_all=True)
        seams = None
        if self.executor.splits_last:
            self._done += [future.result() for future in self._surfaces_here]
            seams = self.executor.submit(
                merge_seam_polygons, seam_polygons_of(self._done), self.network.grid, self.options
            )
            for position in self._held:
                self._submit(position, surfaces=False)
            self._collect(wait_all=True)
        vectors = assemble(in_block_order(self._done), self.network.grid, self.options, seams)
        vectors.work = WorkSummary(
            len(self.network.blocks),
            self.executor.workers,
            self.network.grid.megapixels,
            time.perf_counter() - self._start,
        )
        return vectors

    def _ready(self, position: int) -> bool:
        """Whether every place under a block is complete over its window's rows."""
        window = self.network.blocks[position].window
        for k in self.network.needs[position]:
            place = self.network.places[k]
            if min(window.bottom, place.bottom) - place.row > self._complete[k]:
                return False
        return True

    def _send_ready(self) -> None:
        """Send the blocks whose places are complete, then forget rows no block needs."""
        self._collect(wait_all=False)
        ready = [p for p in self._waiting if self._ready(p)]
        if not ready:
            return
        self._waiting = [p for p in self._waiting if p not in set(ready)]
        # the last blocks' surfaces start first: this thread is idle while workers start
        for position in ready:
            if position in self._last:
                task, args = self._task(position, lines=False, copy=True)
                assert self._here is not None
                self._surfaces_here.append(self._here.submit(task, *args))
                self._held.append(position)
        for position in ready:
            if position not in self._last:
                self._submit(position)
        self._forget_rows()

    def _task(
        self, position: int, lines: bool = True, surfaces: bool = True, copy: bool = False
    ) -> tuple[Callable[..., BlockPieces], tuple[Any, ...]]:
        """A block's task and its arguments: its road mask from memory, or its rasters."""
        block = self.network.blocks[position]
        grid, options = self.network.grid, self.options
        needs = self.network.needs[position]
        if all(self._rasters[k] is not None for k in needs):
            sources = [(self._rasters[k], self.network.places[k]) for k in needs]
            return vectorize_sources, (block, grid, options, sources, lines, surfaces)
        road = self._road(block, needs, copy)
        return vectorize_block, (road, block, grid, options, lines, surfaces)

    def _road(self, block: Block, needs: tuple[int, ...], copy: bool) -> np.ndarray:
        """A block's road mask from the rows kept in memory (a view when one place holds it)."""
        window = block.window
        places = self.network.places
        if len(needs) == 1 and places[needs[0]].intersection(window) == window:
            place = places[needs[0]]
            view = self._rows[needs[0]].window(window.shifted(-place.row, -place.col))
            return view.copy() if copy else view
        road = np.zeros((window.rows, window.cols), bool)
        for k in needs:
            if k not in self._rows:
                raise ValueError("a block cannot read both streamed rows and rasters")
            part = window.intersection(places[k])
            assert part is not None
            inside = part.shifted(-places[k].row, -places[k].col)
            road[part.shifted(-window.row, -window.col).slices] = self._rows[k].window(inside)
        return road

    def _submit(self, position: int, surfaces: bool = True) -> None:
        """Send a block's task, first waiting for room under the executor's in-flight limit."""
        limit = self.executor.in_flight
        while limit is not None and len(self._running) >= limit:
            self._take(self.executor.wait(self._running))
        task, args = self._task(position, surfaces=surfaces, copy=self.executor.copies)
        future = self.executor.submit(task, *args)
        self._running.add(future)
        if future.done():  # it ran here
            self._take({future})

    def _collect(self, wait_all: bool) -> None:
        """Take the results that are in (with ``wait_all``: every one)."""
        self._take({future for future in self._running if future.done()})
        while wait_all and self._running:
            self._take(self.executor.wait(self._running))

    def _take(self, done: set[Any]) -> None:
        for future in done:
            self._running.discard(future)
            self._done.append(future.result())
            assert self._bar is not None
            self._bar.update()

    def _forget_rows(self) -> None:
        """Drop the kept rows above every window still to be read from memory."""
        for k, rows in self._rows.items():
            place = self.network.places[k]
            tops = [
                self.network.blocks[p].window.row - place.row
                for p in self._waiting + self._held
                if k in self.network.needs[p]
            ]
            rows.keep_from(min(tops) if tops else rows.end)
