"""A real Dask cluster on 127.0.0.1 for the tests: a scheduler and two workers.

The session's one cluster is the ``cluster`` fixture of ``conftest.py``; tests that kill a
worker wait for its nanny's new one (:func:`kill_a_busy_worker`), so the next test has
two again.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Seconds a cluster may take to start, and a killed worker to come back.
STARTUP_S = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dask_command(*args: str) -> list[str]:
    """The ``dask`` command of this interpreter's environment."""
    return [str(Path(sys.executable).with_name("dask")), *args]


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def local_cluster() -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A scheduler and two single-threaded workers, all on 127.0.0.1, always stopped."""
    import distributed

    address = f"tcp://127.0.0.1:{free_port()}"
    port = address.rsplit(":", 1)[1]
    common = ["--no-dashboard"]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(
            subprocess.Popen(
                dask_command("scheduler", "--host", "127.0.0.1", "--port", port, *common),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    dask_command(
                        "worker", address, "--host", "127.0.0.1", "--nthreads", "1", *common
                    ),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        with distributed.Client(address, timeout=STARTUP_S) as client:
            client.wait_for_workers(2, timeout=STARTUP_S)
        yield address, processes
    finally:
        for process in reversed(processes):
            stop(process)


def kill_a_busy_worker(address: str) -> None:
    """Kill a worker (SIGKILL) as soon as one has blocks in hand (its nanny restarts it)."""
    import distributed

    with distributed.Client(address, timeout=STARTUP_S) as watcher:
        pids = watcher.run(os.getpid)  # worker address -> its process
        deadline = time.monotonic() + STARTUP_S
        busy: list[str] = []
        while not busy:
            assert time.monotonic() < deadline, "the cluster never started the blocks"
            busy = [worker for worker, keys in watcher.processing().items() if keys]
            time.sleep(0.02)
        os.kill(pids[busy[0]], signal.SIGKILL)
        # wait for the nanny's new worker, so that the next test has two again
        watcher.wait_for_workers(2, timeout=STARTUP_S)
