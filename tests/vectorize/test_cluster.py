"""Vectorisation on a real Dask cluster (a scheduler and two workers on 127.0.0.1)."""

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from dask_cluster import STARTUP_S, free_port, kill_a_busy_worker
from scipy import ndimage
from skimage.draw import line

from roadkd.errors import RoadkdError
from roadkd.vectorize import RoadVectors, vectorize_raster
from roadkd.vectorize.cluster import placement

pytest.importorskip("distributed")

TRANSFORM = Affine(0.5, 0, 445000.0, 0, -0.5, 5030000.0)


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
