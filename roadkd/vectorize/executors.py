"""Where block tasks run: in this process, in a pool of worker processes, or on Dask.

Every executor speaks one protocol (:class:`Executor`): ``submit`` a task and get a future,
``wait`` for some of them, and say how many tasks may be in flight at once. The vectoriser
(:class:`roadkd.vectorize.engine.Vectorizer`) does not know which one it runs on; the Dask
one lives in :mod:`roadkd.vectorize.cluster`, so that nothing here imports Dask.
"""

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from ..device import usable_cores
from ..errors import RoadkdError

T = TypeVar("T")


def default_workers() -> int:
    """Worker processes used when none are asked for: one per core this process may use."""
    return usable_cores()


def check_workers(workers: int) -> int:
    """Validate a worker count.

    Raises:
        RoadkdError: if it is below one.
    """
    if workers < 1:
        raise RoadkdError(f"--workers must be at least 1, got {workers}")
    return workers


class Executor(Protocol):
    """Runs block tasks somewhere and hands back futures of their results.

    Attributes:
        workers: tasks it runs at once (the work summary's "workers").
        in_flight: most tasks sent and not yet collected (None: no limit, the executor
            queues them itself); the vectoriser waits for a result before sending more,
            so that neither the tasks (which may hold arrays) nor the results pile up.
        copies: whether a task's arguments may be read after ``submit`` returns (in
            another process, later): then the vectoriser hands it copies of its buffers.
        splits_last: the last ``workers`` blocks are split in two (surfaces here, in a
            thread, as soon as they are ready; lines after every other block), so that the
            seam merge, which needs every block's polygons, runs on a worker while the
            last lines are made (:meth:`roadkd.vectorize.engine.Vectorizer.finish`).
    """

    workers: int
    in_flight: int | None
    copies: bool
    splits_last: bool

    def submit(self, task: Callable[..., T], *args: Any) -> "Future[T]":
        """Start ``task(*args)``; its future."""

    def wait(self, futures: set[Any]) -> set[Any]:
        """Wait until at least one of ``futures`` is done; the done ones."""


class InProcess:
    """Runs every task at once, in the calling thread (one worker, nothing in flight)."""

    workers = 1
    in_flight: int | None = None
    copies = False
    splits_last = False

    def submit(self, task: Callable[..., T], *args: Any) -> "Future[T]":
        """Run ``task(*args)`` now; a future that is already done."""
        future: Future[T] = Future()
        try:
            future.set_result(task(*args))
        except BaseException as error:
            future.set_exception(error)
        return future

    def wait(self, futures: set[Any]) -> set[Any]:
        """Every future is done already."""
        return set(futures)


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


class ProcessPool:
    """Runs tasks in ``workers`` local processes, at most two per worker in flight."""

    copies = True
    splits_last = True

    def __init__(self, pool: ProcessPoolExecutor, workers: int) -> None:
        """Use ``pool``, which runs ``workers`` processes."""
        self.pool = pool
        self.workers = workers
        self.in_flight: int | None = 2 * workers

    def submit(self, task: Callable[..., T], *args: Any) -> "Future[T]":
        """Send ``task(*args)`` to a worker."""
        return self.pool.submit(task, *args)

    def wait(self, futures: set[Any]) -> set[Any]:
        """Wait for the first of ``futures`` to finish."""
        return set(wait(futures, return_when=FIRST_COMPLETED).done)


@contextmanager
def local_executor(workers: int, blocks: int) -> Iterator[Executor]:
    """This process, or a pool of ``min(workers, blocks)`` processes when that is above one.

    The pool lives while the ``with`` block runs; after an error, tasks that have not
    started are cancelled.

    Raises:
        RoadkdError: if ``workers`` is below one.
    """
    used = min(check_workers(workers), blocks)
    if used <= 1:
        yield InProcess()
        return
    pool = worker_pool(used)
    try:
        yield ProcessPool(pool, used)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


@contextmanager
def open_executor(workers: int, scheduler: str | None, blocks: int) -> Iterator[Executor]:
    """The executor of a job: Dask with ``scheduler``, else :func:`local_executor`.

    Raises:
        RoadkdError: if ``workers`` is below one, or the scheduler cannot be reached.
    """
    check_workers(workers)
    if scheduler is None:
        with local_executor(workers, blocks) as executor:
            yield executor
        return
    from .cluster import cluster_executor

    with cluster_executor(scheduler) as cluster:
        yield cluster
