"""Peak memory and throughput of the whole `predict` job (probability and vectors).

Each run is its own process, so its peak resident memory is its own (VmHWM, which starts
afresh at exec), plus the peak of all its processes together (sampled). Scenes are tiled
from a synthetic road scene, roads in the first band. By default the model is a stand-in
that answers instantly (probability = first band / 255), so the job is inference's I/O
and blending plus vectorisation, as on a GPU fast enough never to wait: it shows whether
vectorisation holds inference back. ``--model student`` runs the real default student
instead (slow on a CPU: use small sizes).

It prints, for each size, the bare probability pass (``predict_scene``) and the whole
job (``predict_scenes`` with ``--workers``) and the ratios:
- peak RSS of the largest scene over the smallest, whole job (target <= 1.3);
- whole-job throughput over the bare pass (target >= 0.85 with the student on a CPU).

    python benchmarks/predict_memory.py [--sizes 4096 16384] [--workers 2] [--block 4096]
        [--model standin]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import write_repeated
from vectorize_scale import mirrored_tile

from roadkd.io import GDAL_DEFAULTS

CHILD = """
import json, sys, time
from pathlib import Path

import torch

sys.path.insert(0, sys.argv[8])
from _memory import poll_peak, status_kib, tree_rss_kib  # noqa: E402
from roadkd.inference import load_backend, predict_scene
from roadkd.inference.predict import Tiling, check_scene
from roadkd.models.deploy import DataFacts
from roadkd.pipeline.local import predict_scenes


class StandIn:
    in_channels, device = 3, torch.device("cpu")
    data = DataFacts((0.0,) * 3, (1.0,) * 3, tile_size=512, resolution_m=0.21)

    def predict(self, batch):
        return batch[:, 0] / 255


scene, out, mode, model, tile, workers, block = sys.argv[1:8]
backend = StandIn() if model == "standin" else load_backend(model, "cpu")
tiling = (int(tile), int(tile) // 8, 4)
peak = poll_peak()
start = time.perf_counter()
plan = check_scene(scene, backend)
if mode == "bare":
    predict_scene(scene, backend, out, *tiling, plan=plan)
    lines = 0
else:
    _, vectors = predict_scenes(
        [Path(scene)], backend, [Path(out)], Tiling(*tiling), None, int(block), int(workers),
        read_plans=[plan],
    )
    lines = len(vectors.centerlines)
seconds = time.perf_counter() - start
print(json.dumps({
    "seconds": seconds,
    "rss_mib": status_kib("self", "VmHWM:") / 1024,
    "tree_rss_mib": max(peak(), tree_rss_kib()) / 1024,
    "lines": lines,
}))
"""


def write_road_scene(path: Path, size: int, tile: np.ndarray) -> Path:
    """An RGB scene, roads (probability x 255) in band 1, written a strip at a time."""
    tile = tile[:size, :size]
    band = (np.tile(tile, (1, -(-size // tile.shape[0])))[:, :size] * 255).astype(np.uint8)
    return write_repeated(path, size, np.stack([band, band // 2, band // 2]))


def measure(
    scene: Path, out: Path, mode: str, model: str, tile: int, workers: int, block: int
) -> dict:
    """Run one job in a fresh process; its time and peak memory."""
    args = [str(scene), str(out), mode, model, str(tile), str(workers), str(block)]
    result = subprocess.run(
        [sys.executable, "-c", CHILD, *args, str(Path(__file__).parent)],
        env={**GDAL_DEFAULTS, **os.environ},  # as the roadkd command runs
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--workers", type=int, default=2)
    # With 4096 px blocks a 4096 px scene is one block and keeps one worker busy, so with
    # more workers all processes together grow with the busy workers: compare with blocks
    # small enough to keep every worker busy at the smallest size too (e.g. --block 2048).
    parser.add_argument("--block", type=int, default=4096)
    parser.add_argument("--model", choices=["standin", "student"], default="standin")
    args = parser.parse_args()
    road_tile = mirrored_tile(2048)
    whole = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = "standin"
        if args.model == "student":
            from _common import write_student

            model = str(write_student(folder / "student.pt", args.tile))
        for size in args.sizes:
            scene = write_road_scene(folder / f"scene_{size}.tif", size, road_tile)
            prob = folder / f"p{size}.tif"
            settings = (model, args.tile, args.workers, args.block)
            bare = measure(scene, prob, "bare", *settings)
            job = measure(scene, prob, "whole", *settings)
            whole[size] = job
            mp = size * size / 1e6
            print(
                f"{size:6d} px: probability only {mp / bare['seconds']:6.2f} MP/s, "
                f"peak RSS {bare['rss_mib']:7.1f} MiB | whole job ({args.workers} workers) "
                f"{mp / job['seconds']:6.2f} MP/s = {bare['seconds'] / job['seconds']:.2f}x, "
                f"peak RSS {job['rss_mib']:7.1f} MiB (all processes {job['tree_rss_mib']:7.1f}), "
                f"{job['lines']} lines"
            )
    small, large = whole[min(whole)], whole[max(whole)]
    print(
        f"whole job peak RSS largest / smallest: {large['rss_mib'] / small['rss_mib']:.2f} "
        f"(all processes {large['tree_rss_mib'] / small['tree_rss_mib']:.2f})  (target <= 1.3)"
    )


if __name__ == "__main__":
    main()
