"""Blocks on a Dask distributed cluster (optional: ``pip install 'roadkd[distributed]'``).

The client sends each block as a small task (the raster's path and the block's window);
workers read the raster from a path they can see (a shared filesystem, or any GDAL path
such as ``/vsis3/bucket/prob.tif``), vectorise the block and return its pieces, which the
client stitches. A worker lost mid-run costs nothing but time: the scheduler reruns its
blocks elsewhere, and the client assembles results in block order, whoever computed them.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import RoadkdError

if TYPE_CHECKING:
    from distributed import Client

T = TypeVar("T")

#: Seconds to wait for the scheduler before giving up.
CONNECT_TIMEOUT_S = 20


def connect(scheduler: str) -> "Client":
    """A Dask client connected to ``scheduler`` (``tcp://host:8786``, ``tls://...``).

    Security settings (TLS certificates) come from Dask's own configuration
    (``distributed.comm.tls.*``, e.g. in ``~/.config/dask/distributed.yaml``).

    Raises:
        RoadkdError: if Dask distributed is not installed or the scheduler cannot be
            reached.
    """
    try:
        from distributed import Client
    except ImportError as err:
        raise RoadkdError(
            "--scheduler needs Dask distributed: pip install 'roadkd[distributed]'"
        ) from err
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise RoadkdError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from err


def cluster_workers(client: "Client") -> int:
    """Threads the cluster's workers run tasks on, in total."""
    workers = client.scheduler_info().get("workers", {})
    return sum(int(info.get("nthreads", 1)) for info in workers.values()) or 1


def placement(client: "Client") -> tuple[dict[str, float] | None, list[str] | None]:
    """Where ``predict``'s tasks go when some workers declare GPUs (``--resources GPU=1``).

    Returns:
        The resources a block of inference asks for (one GPU, so that only those workers
        run the model, one block at a time per GPU; None without GPU workers), and the
        workers preferred for vectorising (those without a GPU, if any; else None: any).
    """
    workers = client.scheduler_info().get("workers", {})
    gpu = {address for address, info in workers.items() if info.get("resources", {}).get("GPU")}
    if not gpu:
        return None, None
    return {"GPU": 1}, sorted(set(workers) - gpu) or None


class DaskExecutor:
    """Runs block tasks on a Dask cluster, the scheduler queueing them (no in-flight limit).

    Tasks are pure (the same block gives the same pieces), so Dask may run one twice, or
    again on another worker after a loss, without changing the result.
    """

    in_flight: int | None = None
    copies = True
    splits_last = False

    def __init__(self, client: "Client", preferred: list[str] | None = None) -> None:
        """Send tasks through ``client``, to the ``preferred`` workers while any is left.

        Args:
            client: a connected client.
            preferred: worker addresses (e.g. those without a GPU, :func:`placement`);
                None: any worker.
        """
        self.client = client
        self.workers = cluster_workers(client)
        self._where: dict[str, Any] = (
            {"workers": preferred, "allow_other_workers": True} if preferred else {}
        )

    def submit(self, task: Callable[..., T], *args: Any) -> Any:
        """Send ``task(*args)`` to the cluster; its Dask future."""
        return self.client.submit(task, *args, pure=True, **self._where)

    def wait(self, futures: set[Any]) -> set[Any]:
        """Wait for the first of ``futures`` to finish."""
        from distributed import wait

        with self.client.as_current():  # this client, not a default one
            return set(wait(list(futures), return_when="FIRST_COMPLETED").done)


@contextmanager
def cluster_executor(scheduler: str) -> Iterator[DaskExecutor]:
    """An executor on the cluster of ``scheduler``, vectorising where :func:`placement` says.

    Raises:
        RoadkdError: if Dask distributed is not installed or the scheduler cannot be
            reached.
    """
    with connect(scheduler) as client:
        yield DaskExecutor(client, placement(client)[1])
