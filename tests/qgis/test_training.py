"""The analyst's loop in a real QGIS (qgis_process): road layer -> training data -> model.

"Make training data from a road layer" and "Train a road model" on a tiny scene with tiny
networks and two steps a stage: what is checked is the plumbing (parameters reaching
roadkd, progress, outputs moved into place, nothing left behind), not the model's quality.
Skipped, with the reason, where QGIS is not installed.
"""

import itertools
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import yaml
from affine import Affine
from qgis_run import QGIS_TESTS, ROADKD, qgis
from shapely.geometry import LineString, box

pytestmark = QGIS_TESTS

X0, Y0, RES, SIZE = 445000.0, 5030000.0, 0.21, 384
#: Networks of a few hundred thousand weights: small checkpoints, fast steps.
TINY = {
    "arch": "Unet",
    "encoder": "tu-mobilenetv3_small_050",
    "kwargs": {"encoder_depth": 3, "decoder_channels": [16, 8, 4]},
}
TINY_B = {"arch": "Linknet", "encoder": "tu-mobilenetv3_small_050", "kwargs": {"encoder_depth": 3}}


def _progress(stdout: str) -> list[int]:
    """The bar's values, as the plugin shows them in its progress text."""
    return [int(p) for p in re.findall(r"\((\d+) %\)", stdout)]


def _inputs(folder: Path) -> tuple[Path, Path, Path]:
    """A scene, a road layer with widths and a two-layer file whose second layer is the
    area where the roads are complete (the whole scene)."""
    rng = np.random.default_rng(0)
    scene = folder / "scene.tif"
    with rasterio.open(
        scene,
        "w",
        driver="GTiff",
        width=SIZE,
        height=SIZE,
        count=3,
        dtype="uint8",
        crs="EPSG:32618",
        transform=Affine(RES, 0, X0, 0, -RES, Y0),
    ) as dst:
        dst.write(rng.integers(60, 200, (3, SIZE, SIZE)).astype("uint8"))
    side = SIZE * RES
    lines = [LineString([(X0, Y0 - r * RES), (X0 + side, Y0 - r * RES)]) for r in (50, 200, 330)]
    lines += [LineString([(X0 + c * RES, Y0), (X0 + c * RES, Y0 - side)]) for c in (100, 280)]
    roads = folder / "roads.gpkg"
    gpd.GeoDataFrame({"width_m": [6.0] * 5}, geometry=lines, crs="EPSG:32618").to_file(roads)
    areas = folder / "areas.gpkg"
    elsewhere = box(X0 + 2 * side, Y0 - side, X0 + 3 * side, Y0)
    gpd.GeoDataFrame(geometry=[elsewhere], crs="EPSG:32618").to_file(areas, layer="elsewhere")
    whole = box(X0, Y0 - side, X0 + side, Y0)
    gpd.GeoDataFrame(geometry=[whole], crs="EPSG:32618").to_file(areas, layer="complete")
    return scene, roads, areas


def _configs(folder: Path) -> tuple[Path, Path]:
    """Teachers and student configs: tiny networks, 64 px patches, two steps an epoch."""
    optim = {"optimizer": "adamw", "lr": 0.001, "backbone_lr": None}
    data = {
        "class_path": "roadkd.datamodules.roads.RoadDataModule",
        "init_args": {"root": "set by the algorithm", "batch_size": 2, "patch_size": 64},
    }
    trainer = {
        "accelerator": "cpu",
        "limit_val_batches": 1,
        "num_sanity_val_steps": 0,
        "enable_model_summary": False,
        "log_every_n_steps": 1,
    }
    stages = {
        "teachers": (
            "roadkd.tasks.CrossModelTeachers",
            {"teacher_a": TINY, "teacher_b": TINY_B, "warmup_steps": 1},
        ),
        "student": (
            "roadkd.tasks.SSLKDStudent",
            {"teachers_checkpoint": "set by the algorithm", "student": TINY, "threshold": 0.5},
        ),
    }
    paths = []
    for name, (task, init_args) in stages.items():
        config = {
            "seed_everything": 0,
            "model": {"class_path": task, "init_args": {**init_args, "optim": optim}},
            "data": data,
            "trainer": trainer,
        }
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        paths.append(path)
    return paths[0], paths[1]


def test_training_data_then_a_model_without_leaving_qgis(profile: Path, tmp_path: Path) -> None:
    scene, roads, areas = _inputs(tmp_path)
    data = tmp_path / "data"
    made = qgis(
        profile,
        "run",
        "roadkd:maketrainingdata",
        "--",
        f"SCENES={scene}",
        f"ROADS={roads}",
        "WIDTH_FIELD=width_m",
        f"LABELLED_AREA={areas}|layername=complete",
        "BLOCK_SIZE=128",
        "VAL=0.25",
        "TEST=0.25",
        f"ROADKD={ROADKD}",
        f"OUTPUT={data}",
    )
    log = made.stdout + made.stderr
    assert made.returncode == 0, log[-3000:]
    assert "--width-field width_m" in log and "--labelled-area-layer complete" in log
    splits = json.loads((data / "splits.json").read_text())
    assert (len(splits["train"]), len(splits["val"]), len(splits["test"])) == (5, 2, 2)
    progress = _progress(made.stdout)
    assert progress[-1] == 100 and all(a < b for a, b in itertools.pairwise(progress))
    assert "Writing training blocks: 9 of 9 blocks" in made.stdout

    teachers_config, student_config = _configs(tmp_path)
    models = tmp_path / "models"
    student, teachers = models / "student.ckpt", models / "teachers.ckpt"
    trained = qgis(
        profile,
        "run",
        "roadkd:trainroadmodel",
        "--",
        f"DATA={data}",
        "EPOCHS=1",
        "PATCHES=4",
        "ACCELERATOR=1",
        f"TEACHERS_CONFIG={teachers_config}",
        f"STUDENT_CONFIG={student_config}",
        f"ROADKD={ROADKD}",
        f"OUTPUT={student}",
        f"TEACHERS={teachers}",
    )
    log = trained.stdout + trained.stderr
    assert trained.returncode == 0, log[-3000:]
    assert "--data.init_args.labeled_ratio 1 --trainer.max_epochs 1" in log
    assert "--data.init_args.length 4 --trainer.accelerator cpu" in log
    # two steps a stage: the teachers fill the bar to 60 %, the student to 100 %
    progress = _progress(trained.stdout)
    assert progress == [30, 60, 80, 100], trained.stdout[-3000:]
    assert "Training the teachers: 2 of 2 steps" in trained.stdout
    assert "Training the student: 2 of 2 steps" in trained.stdout
    # the models are in place, the working folder is gone
    assert sorted(p.name for p in models.iterdir()) == ["student.ckpt", "teachers.ckpt"]
    from roadkd.inference import load_backend

    backend = load_backend(student, "cpu")  # the student runs without its teachers' files
    assert backend.in_channels == 3


def test_a_failed_training_leaves_nothing_behind(profile: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    common = ["run", "roadkd:trainroadmodel", "--", f"OUTPUT={models / 'student.ckpt'}"]
    run = qgis(profile, *common, f"DATA={tmp_path}", f"ROADKD={ROADKD}")
    assert run.returncode != 0
    assert "is not a roadkd training data folder (no splits.json)" in run.stdout + run.stderr
    assert not models.exists()
    # The training stops after its working folder was made (here roadkd cannot even start;
    # a failure or Cancel of roadkd ends the same way): the folder goes with it.
    (tmp_path / "splits.json").write_text("{}")
    missing = tmp_path / "no" / "roadkd"
    run = qgis(profile, *common, f"DATA={tmp_path}", f"ROADKD={missing}")
    assert run.returncode != 0
    log = run.stdout + run.stderr
    assert f"cannot run {missing}" in log and "Providers > roadkd" in log
    assert list(models.iterdir()) == []
