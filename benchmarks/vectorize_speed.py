"""Vectorisation speed in megapixels per second, and where the time goes.

On a synthetic scene's road surface (as a probability map), this run measures the whole
``vectorize_array`` and, as the reference, the bare skeletonisation of the same mask
(the one step every skeleton-based vectoriser pays). It prints MP/s and the ratio of the
two, plus the share of each stage, and the APLS-style score's time on the resulting
graph against the labels' graph. Nothing is asserted.

    python benchmarks/vectorize_speed.py [--size 2048] [--repeat 3]
"""

import time

import numpy as np
from _common import CRS, TRANSFORM, best_of, synthetic_probability
from rasterio.features import shapes
from skimage.morphology import skeletonize

from roadkd.metrics.apls import apls
from roadkd.vectorize import VectorizeOptions, vectorize_array
from roadkd.vectorize.core import centreline_graph, road_mask


def main() -> None:
    args, scene, prob = synthetic_probability(__doc__)
    opts = VectorizeOptions()
    megapixels = args.size**2 / 1e6

    vectorize_array(prob[:256, :256], TRANSFORM, CRS)  # warm-up (skan compiles with numba)
    total = best_of(args.repeat, lambda: vectorize_array(prob, TRANSFORM, CRS, opts))
    mask = road_mask(prob, 0.21, opts)
    stages = {
        "threshold + clean": best_of(args.repeat, lambda: road_mask(prob, 0.21, opts)),
        "skeletonize (reference)": best_of(args.repeat, lambda: skeletonize(mask)),
        "skeleton -> graph (+ EDT)": best_of(
            args.repeat, lambda: centreline_graph(mask, 0.21, opts)
        ),
        "polygonise": best_of(args.repeat, lambda: list(shapes(mask.astype(np.uint8), mask=mask))),
    }
    vectors = vectorize_array(prob, TRANSFORM, CRS, opts)
    truth = vectorize_array(
        scene.centerline.astype(np.float32), TRANSFORM, CRS, VectorizeOptions(threshold=0.5)
    )
    start = time.perf_counter()
    score = apls(truth.graph, vectors.graph)
    apls_seconds = time.perf_counter() - start

    print(
        f"scene {args.size} x {args.size} px ({megapixels:.1f} MP): "
        f"{len(vectors.centerlines)} lines, {vectors.centerlines['length_m'].sum() / 1000:.2f} km, "
        f"{len(vectors.surface)} polygons"
    )
    print(f"vectorisation: {megapixels / total:.2f} MP/s ({total:.2f} s)")
    reference = stages["skeletonize (reference)"]
    print(f"vectorisation / bare skeletonisation time: {total / reference:.1f}x")
    for name, seconds in stages.items():
        print(f"  {name:<26} {seconds / total:6.1%} of the total")
    print(
        f"APLS-style score vs the labels' graph: {score:.3f} "
        f"({truth.graph.number_of_nodes()} and {vectors.graph.number_of_nodes()} nodes), "
        f"{apls_seconds / total:.2f}x the vectorisation time"
    )


if __name__ == "__main__":
    main()
