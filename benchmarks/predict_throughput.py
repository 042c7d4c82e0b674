"""Whole-job `predict` throughput on the CPU against the bare forward pass of the student.

The student is the demo config's (``configs/demo/student.yaml``: DeepLabV3+/MobileNetV2),
built by ``roadkd.models.factory`` with random weights (its speed does not depend on
training). An untrained network sees no roads, which would leave the vectoriser idle, so
the job's model runs the student on every batch and answers with the scene's roads
(probability x 255 in band 1): inference costs what the student costs, and vectorisation
has a city's roads to trace.

Printed, all measured in this run on the same scene:
- bare forward: the student on as many tiles as the job runs, already in memory;
- whole job: ``run_predict`` (read, tile, blend and write the probability, vectorise
  finished bands while inference goes on (on the CPU in this process, between batches,
  unless ``--workers`` asks for processes), confidence, write the GeoPackage) and its
  throughput over the bare pass (goal >= 0.85);
- stand-in instant model: the same job with a model that answers at no cost, as a device
  fast enough never to wait, vectorising in one process per core as ``predict`` does with
  a GPU; its rate is what vectorisation keeps up with: a device delivering less is never
  held back.

    python benchmarks/predict_throughput.py [--size 2048] [--tile 512] [--workers N] [--repeat 2]
"""

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest.mock import patch

import torch
import yaml
from _common import best_of
from predict_memory import write_road_scene
from vectorize_scale import mirrored_tile

import roadkd.pipeline.predict as pipeline
from roadkd.inference import load_backend
from roadkd.inference.backends import Backend
from roadkd.inference.tiling import tile_origins
from roadkd.models import DeployBundle, ModelConfig, save_bundle
from roadkd.models.factory import build_model
from roadkd.vectorize import default_workers

DEMO_STUDENT = Path(__file__).parents[1] / "configs" / "demo" / "student.yaml"


def demo_student() -> ModelConfig:
    """The student architecture of the demo configuration."""
    config = yaml.safe_load(DEMO_STUDENT.read_text())
    return ModelConfig(**config["model"]["init_args"]["student"])


class RoadsAtStudentCost:
    """Runs the student on every batch, answers with the roads in band 1 (or instantly)."""

    def __init__(self, student: Backend, run_student: bool) -> None:
        self.student = student
        self.run_student = run_student

    def __getattr__(self, name: str) -> Any:
        return getattr(self.student, name)

    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        if self.run_student:
            self.student.predict(batch)
        return batch[:, 0] / 255


def whole_job(
    scene: Path, model: Path, folder: Path, args: argparse.Namespace, workers: int | None
) -> float:
    """Seconds of ``run_predict`` (probability and vectors) on ``scene``."""
    start = time.perf_counter()
    settings = pipeline.PredictSettings(
        tile=args.tile,
        overlap=args.overlap,
        batch_size=args.batch_size,
        device="cpu",
        workers=workers,
    )
    pipeline.run_predict([scene], model, folder / "roads.gpkg", settings)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument(
        "--workers", type=int, default=None, help="vectorising processes [default: predict's]"
    )
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    config = demo_student()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = folder / "student.pt"
        torch.manual_seed(0)
        bundle = DeployBundle(model=build_model(config).eval(), config=config, tile_size=args.tile)
        save_bundle(bundle, model)
        student = load_backend(model, "cpu")
        scene = write_road_scene(folder / "scene.tif", args.size, mirrored_tile(2048))
        n_tiles = len(tile_origins(args.size, args.tile, args.tile - args.overlap)) ** 2
        batch = torch.rand(args.batch_size, 3, args.tile, args.tile) * 255
        student.predict(batch)  # warm-up

        def forward() -> None:
            for first in range(0, n_tiles, args.batch_size):
                student.predict(batch[: min(args.batch_size, n_tiles - first)])

        def run_job(run_student: bool, workers: int | None) -> float:
            model_for_job = RoadsAtStudentCost(student, run_student)
            with patch.object(pipeline, "load_backend", lambda path, device: model_for_job):
                return whole_job(scene, model, folder, args, workers)

        # alternated, best of each: the runs least disturbed by other processes
        bare, job, instant = (float("inf"),) * 3
        for _ in range(args.repeat):
            bare = min(bare, best_of(1, forward))
            job = min(job, run_job(True, args.workers))
            # as predict runs with a GPU: a process per core vectorising
            instant = min(instant, run_job(False, args.workers or default_workers()))
    megapixels = args.size**2 / 1e6
    print(
        f"scene {args.size} px, {n_tiles} tiles of {args.tile} px, "
        f"student {config.arch}/{config.encoder} on the CPU ({torch.get_num_threads()} threads), "
        f"{args.workers or pipeline.default_predict_workers(student)} vectorising workers"
    )
    print(f"bare forward   : {bare:7.2f} s  ({megapixels / bare:6.3f} MP/s)")
    print(f"whole job      : {job:7.2f} s  ({megapixels / job:6.3f} MP/s)")
    print(f"ratio (whole job / bare forward throughput): {bare / job:.2f}  (goal >= 0.85)")
    print(
        f"stand-in instant model, {args.workers or default_workers()} vectorising workers, "
        f"whole job: {instant:7.2f} s ({megapixels / instant:6.3f} MP/s "
        f"= {bare / instant:.1f}x the student's CPU forward pass): a device delivering less "
        "than this is never held back by vectorisation"
    )


if __name__ == "__main__":
    main()
