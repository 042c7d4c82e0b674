"""What reviewing costs: confidence sampling and layer comparison against vectorisation.

On a synthetic scene's road surface (as a soft probability GeoTIFF), this run measures
``vectorize_raster`` as the reference, then ``with_confidence`` (confidence on every line
and polygon, read in small windows) and ``compare_layers`` (APLS, TOPO, length P/R of the
vectors against the labels' centrelines), and prints each as a ratio of the reference.
Nothing is asserted.

    python benchmarks/review_speed.py [--size 2048] [--repeat 3]
"""

import tempfile
from pathlib import Path

import numpy as np
import rasterio
from _common import CRS, TRANSFORM, best_of, synthetic_probability

from roadkd.compare import compare_layers
from roadkd.vectorize import VectorizeOptions, vectorize_array, vectorize_raster, write_vectors
from roadkd.vectorize.confidence import with_confidence


def main() -> None:
    args, scene, prob = synthetic_probability(__doc__)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "prob.tif"
        with rasterio.open(
            path, "w", driver="GTiff", width=args.size, height=args.size, count=1,
            dtype="float32", crs=CRS, transform=TRANSFORM, tiled=True, compress="deflate",
        ) as dst:  # fmt: skip
            dst.write(prob[None])
        vectorize_raster(path)  # warm-up (skan compiles with numba)
        reference = best_of(args.repeat, lambda: vectorize_raster(path))
        vectors = vectorize_raster(path)
        confidence = best_of(args.repeat, lambda: with_confidence(vectors, path))
        truth = vectorize_array(
            scene.centerline.astype(np.float32), TRANSFORM, CRS, VectorizeOptions(threshold=0.5)
        )
        truth_path, pred_path = Path(scratch) / "truth.gpkg", Path(scratch) / "pred.gpkg"
        write_vectors(truth_path, {"centerlines": truth.centerlines})
        write_vectors(pred_path, {"centerlines": vectors.centerlines})
        comparison = compare_layers(truth_path, pred_path, prob=path)
        compare = best_of(args.repeat, lambda: compare_layers(truth_path, pred_path, prob=path))
    lines = vectors.centerlines
    print(
        f"scene {args.size} x {args.size} px: {len(lines)} lines, "
        f"{lines['length_m'].sum() / 1000:.2f} km, {len(vectors.surface)} polygons; "
        f"vectorisation {reference:.2f} s"
    )
    print(f"confidence / vectorisation time: {confidence / reference:.2f}x")
    print(f"compare with the labels' lines / vectorisation time: {compare / reference:.2f}x")
    print("scores:", {k: v for k, v in comparison.scores.items() if not k.endswith("_km")})


if __name__ == "__main__":
    main()
