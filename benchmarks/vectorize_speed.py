"""Vectorisation speed in megapixels per second, on a synthetic scene's surface mask.

python benchmarks/vectorize_speed.py [--size 2048]
"""

import argparse
import time

import numpy as np
from affine import Affine

from roadkd.datasets.synthetic import generate_scene
from roadkd.vectorize import vectorize_array


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args()
    scene = generate_scene(args.size, np.random.default_rng(0))
    prob = scene.surface.astype(np.float32)
    transform = Affine(0.21, 0, 445000, 0, -0.21, 5030000)
    start = time.perf_counter()
    vectors = vectorize_array(prob, transform, "EPSG:32618")
    seconds = time.perf_counter() - start
    lines, polygons = len(vectors.centerlines), len(vectors.surface)
    print(f"{args.size} px: {lines} lines, {polygons} polygons in {seconds:.2f} s")
    print(f"vectorisation: {args.size**2 / 1e6 / seconds:.2f} MP/s")


if __name__ == "__main__":
    main()
