"""Memory and parallel speed of blockwise `vectorize` on large probability rasters.

The probability rasters are tiled from a synthetic road scene (mirrored, so roads run on
across tile borders) and written strip by strip. Each run is its own process so that its
peak resident memory is its own. It prints:

- peak RSS of a 16384 px scene over a 4096 px scene, one worker (target <= 1.3: memory
  holds one block and the vectors, not the scene);
- the wall-time speed-up of 2 workers over 1 on the 16384 px scene (target >= 1.7 on a
  2-core machine), and the peak RSS of all its processes together (sampled).

Timings need an otherwise idle machine: the ratio is only as good as the load allows.

    python benchmarks/vectorize_scale.py [--sizes 4096 16384] [--block 4096] [--workers 2]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import soft_probability, write_repeated

from roadkd.datasets.synthetic import generate_scene

HERE = Path(__file__).parent

CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[4])
from _memory import poll_peak, status_kib, tree_rss_kib
from roadkd.vectorize import vectorize_raster
peak = poll_peak()
start = time.perf_counter()
vectors = vectorize_raster(sys.argv[1], block=int(sys.argv[2]), workers=int(sys.argv[3]))
seconds = time.perf_counter() - start
print(json.dumps({
    "seconds": seconds,
    "rss_mib": status_kib("self", "VmHWM:") / 1024,
    "tree_rss_mib": max(peak(), tree_rss_kib()) / 1024,
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


def measure(raster: Path, block: int, workers: int) -> dict[str, float]:
    """Vectorise in a fresh process; its time, peak RSS and result."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(raster), str(block), str(workers), str(HERE)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs=2, default=[4096, 16384])
    parser.add_argument("--block", type=int, default=4096)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tile", type=int, default=2048, help="side of the repeated scene")
    args = parser.parse_args()
    small, large = args.sizes
    tile = mirrored_tile(args.tile)
    with tempfile.TemporaryDirectory() as tmp:
        rasters = {
            size: write_probability(Path(tmp) / f"p{size}.tif", size, tile)
            for size in (small, large)
        }
        runs = {
            (small, 1): measure(rasters[small], args.block, 1),
            (large, 1): measure(rasters[large], args.block, 1),
            (large, args.workers): measure(rasters[large], args.block, args.workers),
        }
    for (size, workers), run in runs.items():
        print(
            f"{size:6d} px, {workers} worker(s): {run['seconds']:7.1f} s, "
            f"{size * size / 1e6 / run['seconds']:5.2f} MP/s, peak RSS {run['rss_mib']:7.1f} MiB "
            f"(all processes {run['tree_rss_mib']:7.1f} MiB), "
            f"{run['lines']:.0f} lines, {run['km']:.1f} km"
        )
    one, many = runs[(large, 1)], runs[(large, args.workers)]
    ratio = one["rss_mib"] / runs[(small, 1)]["rss_mib"]
    print(f"peak RSS {large} / {small} px, one worker: {ratio:.2f}  (target <= 1.3)")
    speed_up = one["seconds"] / many["seconds"]
    print(
        f"speed-up of {args.workers} workers over 1 at {large} px: {speed_up:.2f}x  (target >= 1.7)"
    )
    print(
        f"same network: {many['lines']:.0f} vs {one['lines']:.0f} lines, "
        f"{many['km']:.2f} vs {one['km']:.2f} km"
    )


if __name__ == "__main__":
    main()
