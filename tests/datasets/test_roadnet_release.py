"""Tests of the RoadNet release importer on a tiny release-layout fixture."""

import importlib.util
import shutil
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import rasterio

from roadkd.datasets.layout import image_path, mask_path, read_splits
from roadkd.datasets.roadnet_release import (
    SCENE_GAP_M,
    convert_roadnet_release,
    official_split,
    red_label,
)
from roadkd.errors import RoadkdError

FIXTURE = Path(__file__).parents[1] / "data" / "roadnet_release" / "data.py"


def _fixture_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("roadnet_release_fixture", FIXTURE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fixture = _fixture_module()


@pytest.fixture
def release(tmp_path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fixture.make_release(tmp_path / "release", scenes=20, size=24)


def test_red_label() -> None:
    rgb = np.array([[[255, 255, 255], [250, 10, 5]], [[200, 200, 200], [0, 0, 0]]], np.uint8)
    assert red_label(rgb).tolist() == [[0, 1], [0, 0]]


def test_official_split() -> None:
    split = official_split(list(range(1, 21)), val_fraction=0.1, seed=1)
    assert split["test"] == ["ottawa_01"] + [f"ottawa_{n}" for n in range(16, 21)]
    assert len(split["val"]) == 1
    assert sorted(split["train"] + split["val"]) == [f"ottawa_{n:02d}" for n in range(2, 16)]
    assert split == official_split(list(range(1, 21)), val_fraction=0.1, seed=1)


def test_convert(release: Path, tmp_path: Path) -> None:
    out = tmp_path / "roadnet"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the CRS-less tifs must be read warning-free
        convert_roadnet_release(release, out, origin="1000,2000")
    splits = read_splits(out)
    assert splits["source"] == "roadnet"
    assert "assigned" in splits["note"].lower()
    assert len(splits["train"]) + len(splits["val"]) == 14 and len(splits["test"]) == 6
    truth = fixture.scene_labels(24, 3)
    bounds = []
    for n in range(1, 21):
        name = f"ottawa_{n:02d}"
        with rasterio.open(image_path(out, name)) as src:
            assert src.crs.to_epsg() == 32618
            assert src.res == pytest.approx((0.21, 0.21))
            assert src.count == 3 and src.dtypes[0] == "uint8"
            bounds.append(src.bounds)
        if n == 3:
            assert src.transform.c == pytest.approx(1000 + 2 * (24 * 0.21 + SCENE_GAP_M))
            assert src.transform.f == pytest.approx(2000)
            for kind, label in (
                ("surface", "segmentation"),
                ("edge", "edge"),
                ("centerline", "centerline"),
            ):
                with rasterio.open(mask_path(out, name, kind)) as src:
                    np.testing.assert_array_equal(src.read(1), truth[label])
    # Assigned footprints never overlap.
    for i, a in enumerate(bounds):
        for b in bounds[i + 1 :]:
            assert a.right <= b.left or b.right <= a.left or a.top <= b.bottom or b.top <= a.bottom


def test_missing_file_named(release: Path, tmp_path: Path) -> None:
    (release / "7" / "edge.png").unlink()
    out = tmp_path / "roadnet"
    with pytest.raises(RoadkdError, match=r"7/edge\.png"):
        convert_roadnet_release(release, out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [release]  # no staging left behind


def test_missing_folder_and_source(release: Path, tmp_path: Path) -> None:

    shutil.rmtree(release / "12")
    with pytest.raises(RoadkdError, match=r"scene folder.*12"):
        convert_roadnet_release(release, tmp_path / "out")
    with pytest.raises(RoadkdError, match="not found"):
        convert_roadnet_release(tmp_path / "nope", tmp_path / "out")


def test_unreadable_and_mismatched(release: Path, tmp_path: Path) -> None:
    (release / "4" / "centerline.png").write_bytes(b"not a png")
    with pytest.raises(RoadkdError, match=r"4/centerline\.png"):
        convert_roadnet_release(release, tmp_path / "out")
    fixture.make_release(release, scenes=20, size=24)
    from PIL import Image

    Image.new("RGB", (10, 10), "white").save(release / "5" / "segmentation.png")
    with pytest.raises(RoadkdError, match=r"5/segmentation\.png is 10x10"):
        convert_roadnet_release(release, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_crs_origin_and_existing_output(release: Path, tmp_path: Path) -> None:
    with pytest.raises(RoadkdError, match="--crs"):
        convert_roadnet_release(release, tmp_path / "out", crs="EPSG:4326")
    with pytest.raises(RoadkdError, match="--origin"):
        convert_roadnet_release(release, tmp_path / "out", origin="1,2,3")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    with pytest.raises(RoadkdError, match="not empty"):
        convert_roadnet_release(release, busy)
