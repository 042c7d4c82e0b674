"""End-to-end `predict` throughput as a ratio of the bare student forward pass.

Both are measured in this run on the same tiles: the bare pass only runs the network on
tiles already in memory; the end-to-end pass reads, pads, blends and writes the GeoTIFF.
Target: ratio >= 0.75.

    python benchmarks/predict_throughput.py [--size 2048] [--tile 512] [--overlap 64]
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import write_scene, write_student

from roadkd.inference import load_backend, predict_scene
from roadkd.inference.tiling import tile_origins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        backend = load_backend(write_student(folder / "student.pt", args.tile), "auto")
        scene = write_scene(folder / "scene.tif", args.size)
        stride = args.tile - args.overlap
        n_tiles = len(tile_origins(args.size, args.tile, stride)) ** 2
        batch = torch.rand(args.batch_size, 3, args.tile, args.tile) * 255
        backend.predict(batch)  # warm-up
        start = time.perf_counter()
        for first in range(0, n_tiles, args.batch_size):
            backend.predict(batch[: min(args.batch_size, n_tiles - first)])
        bare = time.perf_counter() - start
        start = time.perf_counter()
        predict_scene(scene, backend, folder / "prob.tif", args.tile, args.overlap, args.batch_size)
        end_to_end = time.perf_counter() - start
    megapixels = args.size**2 / 1e6
    print(f"scene {args.size} px, {n_tiles} tiles of {args.tile} px, device {backend.device}")
    print(f"bare forward : {bare:7.2f} s  ({megapixels / bare:.3f} MP/s)")
    print(f"end to end   : {end_to_end:7.2f} s  ({megapixels / end_to_end:.3f} MP/s)")
    print(f"ratio (end-to-end / bare throughput): {bare / end_to_end:.2f}  (target >= 0.75)")


if __name__ == "__main__":
    main()
