"""Peak memory of a process and its descendants, for benchmark child processes (Linux).

``ru_maxrss`` is kept across exec, so a child started by a large parent would report the
parent's peak; VmHWM starts afresh. Worker processes forked by a fork server are not
children one can wait for, so the whole tree's RSS is sampled instead.
"""

import os
import threading
from collections.abc import Callable
from pathlib import Path


def status_kib(pid: int | str, field: str) -> int:
    """A ``/proc/<pid>/status`` field in KiB (``VmHWM:``, ``VmRSS:``), 0 if absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def tree_rss_kib() -> int:
    """Resident memory of this process and all its descendants, in KiB."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    total = 0
    for pid in tree:
        try:
            total += status_kib(pid, "VmRSS:")
        except OSError:
            continue
    return total


def poll_peak(interval: float = 0.25) -> Callable[[], int]:
    """Sample ``tree_rss_kib`` in a daemon thread; returns a function giving the peak."""
    peak = [0]

    def poll() -> None:
        while True:
            peak[0] = max(peak[0], tree_rss_kib())
            threading.Event().wait(interval)

    threading.Thread(target=poll, daemon=True).start()
    return lambda: peak[0]
