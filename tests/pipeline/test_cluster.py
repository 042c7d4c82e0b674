"""roadkd predict on a real Dask cluster equals the local run, a worker killed or not."""

import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from dask_cluster import STARTUP_S, kill_a_busy_worker

from roadkd.datasets.layout import write_geotiff
from roadkd.errors import RoadkdError
from roadkd.models import DeployBundle, ModelConfig, build_model, save_bundle
from roadkd.pipeline import PredictOutputs, PredictSettings, run_predict
from roadkd.pipeline.predict import PredictResult

pytest.importorskip("distributed")

TRANSFORM = Affine(0.5, 0, 445000.0, 0, -0.5, 5030000.0)


def student(path: Path) -> Path:
    """A small untrained student (seed 0, 64 px tiles)."""
    config = ModelConfig(
        arch="Unet", encoder="resnet18", kwargs={"encoder_depth": 1, "decoder_channels": (8,)}
    )
    torch.manual_seed(0)
    save_bundle(DeployBundle(model=build_model(config).eval(), config=config, tile_size=64), path)
    return path


def assert_same_probability(remote_vrt: Path, local_tif: Path) -> None:
    """The VRT over the cluster's blocks holds the local raster's grid and values."""
    with rasterio.open(remote_vrt) as remote, rasterio.open(local_tif) as local:
        assert (remote.transform, remote.crs, remote.shape) == (
            local.transform,
            local.crs,
            local.shape,
        )
        np.testing.assert_allclose(remote.read(1), local.read(1), atol=1e-5, equal_nan=True)


def assert_same_network(remote: PredictResult, local: PredictResult) -> None:
    assert remote.blocks == local.blocks > 1
    assert local.n_lines > 0
    assert remote.road_km == pytest.approx(local.road_km, rel=0.005)


def test_predict_on_the_cluster_equals_the_local_result(
    cluster: tuple[str, list[subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    address, _ = cluster
    model = student(tmp_path / "student.pt")
    rng = np.random.default_rng(0)
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for k in range(2):  # two adjacent scenes on one grid: one network
        pixels = (rng.random((3, 96, 128)) * 255).astype(np.uint8)
        write_geotiff(
            scenes / f"s{k}.tif", pixels, TRANSFORM @ Affine.translation(128 * k, 0), "EPSG:32618"
        )
    local = run_predict(
        [scenes],
        model,
        PredictOutputs(tmp_path / "local.gpkg", prob=tmp_path / "pl"),
        PredictSettings(block=128),
    )
    (tmp_path / "pr" / "s1_probability").mkdir(parents=True)
    (tmp_path / "pr" / "s1_probability" / "row000000_col000999.tif").write_text("old")
    remote = run_predict(
        [scenes],
        model,
        PredictOutputs(tmp_path / "remote.gpkg", prob=tmp_path / "pr"),
        PredictSettings(block=128, scheduler=address),
    )
    for name in ("s0", "s1"):
        assert_same_probability(
            tmp_path / "pr" / f"{name}_probability.vrt", tmp_path / "pl" / f"{name}_probability.tif"
        )
    blocks = sorted(p.name for p in (tmp_path / "pr" / "s1_probability").iterdir())
    assert len(blocks) > 1 and "row000000_col000999.tif" not in blocks  # the old folder replaced
    assert sorted(p.name for p in (tmp_path / "pr").iterdir()) == [
        "s0_probability",
        "s0_probability.vrt",
        "s1_probability",
        "s1_probability.vrt",
    ]
    assert_same_network(remote, local)
    assert remote.workers == 2
    # without --prob the blocks go into a staged folder beside --out, removed at the end
    (tmp_path / "out").mkdir()
    bare = run_predict(
        [scenes],
        model,
        tmp_path / "out" / "bare.gpkg",
        PredictSettings(block=128, scheduler=address),
    )
    assert bare.road_km == pytest.approx(local.road_km, rel=0.005)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["bare.gpkg"]


def test_predict_survives_a_worker_killed_mid_run(
    cluster: tuple[str, list[subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    address, _ = cluster
    model = student(tmp_path / "student.pt")
    scene = tmp_path / "scene.tif"
    pixels = (np.random.default_rng(1).random((3, 128, 160)) * 255).astype(np.uint8)
    write_geotiff(scene, pixels, TRANSFORM, "EPSG:32618")
    local = run_predict(
        [scene],
        model,
        PredictOutputs(tmp_path / "local.gpkg", prob=tmp_path / "l.tif"),
        PredictSettings(block=96),
    )
    result: list[PredictResult] = []
    run = threading.Thread(
        target=lambda: result.append(
            run_predict(
                [scene],
                model,
                PredictOutputs(tmp_path / "remote.gpkg", prob=tmp_path / "r.vrt"),
                PredictSettings(block=96, scheduler=address),
            )
        )
    )
    run.start()
    kill_a_busy_worker(address)
    run.join(STARTUP_S * 2)
    assert not run.is_alive() and len(result) == 1
    assert_same_probability(tmp_path / "r.vrt", tmp_path / "l.tif")
    assert_same_network(result[0], local)
    with pytest.raises(RoadkdError, match=r"give --prob a folder or a \.vrt file"):
        run_predict(
            [scene],
            model,
            PredictOutputs(tmp_path / "x.gpkg", prob=tmp_path / "x.tif"),
            PredictSettings(scheduler=address),
        )
