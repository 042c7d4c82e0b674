"""Vectorisation on a real Dask cluster (a scheduler and two workers on 127.0.0.1)."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from scipy import ndimage
from skimage.draw import line

from roadkd.datasets.layout import write_geotiff
from roadkd.errors import RoadkdError
from roadkd.models import DeployBundle, ModelConfig, build_model, save_bundle
from roadkd.pipeline import PredictOutputs, PredictSettings, run_predict
from roadkd.pipeline.predict import PredictResult
from roadkd.vectorize import RoadVectors, vectorize_raster
from roadkd.vectorize.cluster import placement

distributed = pytest.importorskip("distributed")

TRANSFORM = Affine(0.5, 0, 445000.0, 0, -0.5, 5030000.0)
STARTUP_S = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dask_command(*args: str) -> list[str]:
    """The ``dask`` command of this interpreter's environment."""
    return [str(Path(sys.executable).with_name("dask")), *args]


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A scheduler and two single-threaded workers, all on 127.0.0.1, always stopped."""
    address = f"tcp://127.0.0.1:{free_port()}"
    port = address.rsplit(":", 1)[1]
    common = ["--no-dashboard"]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(
            subprocess.Popen(
                dask_command("scheduler", "--host", "127.0.0.1", "--port", port, *common),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    dask_command(
                        "worker", address, "--host", "127.0.0.1", "--nthreads", "1", *common
                    ),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        with distributed.Client(address, timeout=STARTUP_S) as client:
            client.wait_for_workers(2, timeout=STARTUP_S)
        yield address, processes
    finally:
        for process in reversed(processes):
            stop(process)


def kill_a_busy_worker(address: str) -> None:
    """Kill a worker (SIGKILL) as soon as one has blocks in hand (its nanny restarts it)."""
    with distributed.Client(address, timeout=STARTUP_S) as watcher:
        pids = watcher.run(os.getpid)  # worker address -> its process
        deadline = time.monotonic() + STARTUP_S
        busy: list[str] = []
        while not busy:
            assert time.monotonic() < deadline, "the cluster never started the blocks"
            busy = [worker for worker, keys in watcher.processing().items() if keys]
            time.sleep(0.02)
        os.kill(pids[busy[0]], signal.SIGKILL)
        # wait for the nanny's new worker, so that the next test has two again
        watcher.wait_for_workers(2, timeout=STARTUP_S)


def road_raster(path: Path, size: int = 400) -> Path:
    centre = np.zeros((size, size), bool)
    for start, end in [((20, 0), (380, 399)), ((200, 0), (200, 399)), ((0, 300), (399, 260))]:
        centre[line(*start, *end)] = True
    prob = (ndimage.distance_transform_edt(~centre) <= 5).astype(np.float32)
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "float32"}
    with rasterio.open(path, "w", crs="EPSG:32618", transform=TRANSFORM, **profile) as dst:
        dst.write(prob[None])
    return path


def assert_same(remote: RoadVectors, local: RoadVectors) -> None:
    assert list(remote.centerlines["length_m"]) == list(local.centerlines["length_m"])
    assert remote.centerlines.geometry.geom_equals(local.centerlines.geometry).all()
    assert list(remote.surface["area_m2"]) == list(local.surface["area_m2"])


def test_vectorize_on_the_cluster_equals_the_local_result(
    cluster: tuple[str, list[subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    address, _ = cluster
    raster = road_raster(tmp_path / "prob.tif")
    local = vectorize_raster(raster, block=100)
    remote = vectorize_raster(raster, block=100, scheduler=address)
    assert remote.work is not None and remote.work.workers == 2 and remote.work.blocks == 16
    assert_same(remote, local)


def test_a_worker_killed_mid_run_does_not_change_the_result(
    cluster: tuple[str, list[subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    address, _ = cluster
    raster = road_raster(tmp_path / "prob.tif")
    local = vectorize_raster(raster, block=64)
    result: list[RoadVectors] = []
    run = threading.Thread(
        target=lambda: result.append(vectorize_raster(raster, block=64, scheduler=address))
    )
    run.start()
    kill_a_busy_worker(address)
    run.join(STARTUP_S * 2)
    assert not run.is_alive() and len(result) == 1
    assert_same(result[0], local)


def test_scheduler_errors_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raster = road_raster(tmp_path / "prob.tif")
    monkeypatch.setattr("roadkd.vectorize.cluster.CONNECT_TIMEOUT_S", 2)
    with pytest.raises(RoadkdError, match="cannot reach the Dask scheduler"):
        vectorize_raster(raster, scheduler=f"tcp://127.0.0.1:{free_port()}")
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(RoadkdError, match=r"pip install 'roadkd\[distributed\]'"):
        vectorize_raster(raster, scheduler="tcp://127.0.0.1:8786")


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


class StubClient:
    """What ``placement`` asks a client: the scheduler's view of its workers."""

    def __init__(self, resources: dict[str, dict[str, float]]) -> None:
        self.resources = resources

    def scheduler_info(self) -> dict[str, object]:
        return {"workers": {a: {"resources": r} for a, r in self.resources.items()}}


def test_inference_goes_to_gpu_workers_and_vectorising_to_the_others() -> None:
    assert placement(StubClient({"tcp://a:1": {}, "tcp://b:1": {}})) == (None, None)  # type: ignore[arg-type]
    mixed = StubClient({"tcp://gpu:1": {"GPU": 1}, "tcp://cpu:2": {}, "tcp://cpu:1": {}})
    assert placement(mixed) == ({"GPU": 1}, ["tcp://cpu:1", "tcp://cpu:2"])  # type: ignore[arg-type]
    assert placement(StubClient({"tcp://gpu:1": {"GPU": 1}})) == ({"GPU": 1}, None)  # type: ignore[arg-type]
