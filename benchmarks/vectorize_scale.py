"""Memory and parallel speed of blockwise `vectorize` on large probability rasters.

The probability rasters are tiled from a synthetic road scene (mirrored, so roads run on
across tile borders) and written strip by strip. Each run is its own process so that its
peak resident memory is its own. It prints:

- peak RSS of a 16384 px scene over a 4096 px scene, one worker (target <= 1.3: memory
  holds one block and the vectors, not the scene);
- the wall-time speed-up of 2 workers over 1 on the 16384 px scene (target >= 1.7 on a
  2-core machine), and the peak RSS of all its processes together (sampled). One and
  two workers run back to back, ``--repeat`` times, each with the load average before it.

Timings need an otherwise idle machine: the ratio is only as good as the load allows.
Each run prints the load average before it and the CPU seconds of the main process, the
fork server and each worker (sampled from /proc). On a shared machine ``--nice -10``
(root) runs each measured process in a session of its own at that priority (and, where
the kernel groups scheduling by session, its group too), so that other processes take
less of the cores the workers should have.

    python benchmarks/vectorize_scale.py [--sizes 4096 16384] [--block 4096] [--workers 2]
        [--repeat 2] [--nice -10]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from _common import soft_probability, write_repeated

from roadkd.datasets.synthetic import generate_scene
from roadkd.io import GDAL_DEFAULTS

HERE = Path(__file__).parent

CHILD = """
import json, os, sys, threading, time
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from _memory import status_kib
from roadkd.vectorize import vectorize_raster

TICK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") / 1024
seen = {}  # pid -> (parent pid, CPU seconds): the latest sample of the fork server and workers
peak_kib = [0.0]  # resident memory of the whole tree, at its highest

def children(pid):
    found = []
    for tasks in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in tasks.read_text().split()]
        except OSError:
            continue
    return found

def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK

def rss_kib(pid):
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KIB

# Cheap on purpose (a few small /proc files of this tree, not all of /proc): a sampler
# that scans every process would steal a core from two workers but not from one.
def sample():
    me = os.getpid()
    while True:
        total = rss_kib(me)
        for server in children(me):
            for pid, parent in [(server, me)] + [(w, server) for w in children(server)]:
                try:
                    seen[pid] = (parent, cpu_seconds(pid))
                    total += rss_kib(pid)
                except (OSError, IndexError, ValueError):
                    continue
        peak_kib[0] = max(peak_kib[0], total)
        time.sleep(0.1)

nice = int(sys.argv[5])
if nice:  # in a session of its own (see measure); its scheduling group gets the priority
    os.nice(nice)
    autogroup = Path("/proc/self/autogroup")
    if autogroup.exists():
        autogroup.write_text(str(nice))
threading.Thread(target=sample, daemon=True).start()
cpu_before = time.process_time()
start = time.perf_counter()
vectors = vectorize_raster(sys.argv[1], block=int(sys.argv[2]), workers=int(sys.argv[3]))
seconds = time.perf_counter() - start
main_cpu = time.process_time() - cpu_before
servers = {pid for pid, (ppid, _) in seen.items() if ppid == os.getpid()}
server = [cpu for pid, (ppid, cpu) in seen.items() if pid in servers]
workers = [cpu for ppid, cpu in seen.values() if ppid in servers]
print(json.dumps({
    "seconds": seconds,
    "cpu_parts": [main_cpu, sum(server), *sorted(workers, reverse=True)],
    "rss_mib": status_kib("self", "VmHWM:") / 1024,
    "tree_rss_mib": peak_kib[0] / 1024,
    "km": float(vectors.centerlines["length_m"].sum()) / 1000,
    "lines": len(vectors.centerlines),
}))
"""


def mirrored_tile(size: int, seed: int = 0) -> np.ndarray:
    """A soft probability map of a road scene, mirrored into a seamless 2x2 tile."""
    scene = generate_scene(size // 2, np.random.default_rng(seed))
    prob = soft_probability(scene.surface, seed + 1)
    top = np.hstack([prob, prob[:, ::-1]])
    return np.vstack([top, top[::-1]])


def write_probability(path: Path, size: int, tile: np.ndarray) -> Path:
    """Write a size x size probability GeoTIFF by repeating ``tile``, a strip at a time."""
    tile = tile[:size, :size]
    return write_repeated(path, size, np.tile(tile, (1, -(-size // tile.shape[0])))[None, :, :size])


def measure(raster: Path, block: int, workers: int, nice: int = 0) -> dict[str, Any]:
    """Vectorise in a fresh process; its time, CPU seconds, peak RSS and result."""
    load = os.getloadavg()[0]
    args = [str(raster), str(block), str(workers), str(HERE), str(nice)]
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        env={**GDAL_DEFAULTS, **os.environ},  # as the roadkd command runs
        start_new_session=bool(nice),
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["load"] = load
    return result


def describe(size: int, workers: int, run: dict[str, Any]) -> str:
    """One line about one run."""
    cpu = " ".join(f"{t:.1f}" for t in run["cpu_parts"])
    return (
        f"{size:6d} px, {workers} worker(s): {run['seconds']:7.1f} s "
        f"(load before {run['load']:.2f}; CPU s of main, fork server, workers: {cpu}), "
        f"{size * size / 1e6 / run['seconds']:5.2f} MP/s, peak RSS {run['rss_mib']:7.1f} MiB "
        f"(all processes {run['tree_rss_mib']:7.1f} MiB), "
        f"{run['lines']:.0f} lines, {run['km']:.1f} km"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs=2, default=[4096, 16384])
    parser.add_argument("--block", type=int, default=4096)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tile", type=int, default=2048, help="side of the repeated scene")
    parser.add_argument("--repeat", type=int, default=2, help="pairs of 1 and N worker runs")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run the measured processes at this nice level (negative needs root): on a "
        "shared machine, -10 keeps other processes from skewing the ratio",
    )
    args = parser.parse_args()
    small, large = args.sizes
    tile = mirrored_tile(args.tile)
    with tempfile.TemporaryDirectory() as tmp:
        rasters = {
            size: write_probability(Path(tmp) / f"p{size}.tif", size, tile)
            for size in (small, large)
        }
        first = measure(rasters[small], args.block, 1, args.nice)
        print(describe(small, 1, first), flush=True)
        pairs = []
        for _ in range(args.repeat):
            one = measure(rasters[large], args.block, 1, args.nice)
            print(describe(large, 1, one), flush=True)
            many = measure(rasters[large], args.block, args.workers, args.nice)
            print(describe(large, args.workers, many), flush=True)
            pairs.append((one, many))
    one = min((one for one, _ in pairs), key=lambda run: run["seconds"])
    ratio = one["rss_mib"] / first["rss_mib"]
    print(f"peak RSS {large} / {small} px, one worker: {ratio:.2f}  (target <= 1.3)")
    for k, (one, many) in enumerate(pairs):
        print(
            f"pair {k + 1}: speed-up of {args.workers} workers over 1 at {large} px: "
            f"{one['seconds'] / many['seconds']:.2f}x  (target >= 1.7)"
        )
    best_one = min(one["seconds"] for one, _ in pairs)
    best_many = min(many["seconds"] for _, many in pairs)
    print(f"best of each: {best_one / best_many:.2f}x")
    one, many = pairs[-1]
    print(
        f"same network: {many['lines']:.0f} vs {one['lines']:.0f} lines, "
        f"{many['km']:.2f} vs {one['km']:.2f} km"
    )


if __name__ == "__main__":
    main()
