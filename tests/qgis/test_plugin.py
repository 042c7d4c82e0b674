"""The QGIS Processing plugin, run in a real QGIS through qgis_process (headless).

Skipped, with the reason, where QGIS is not installed; `.ci/run` installs Debian's qgis
and python3-qgis so that CI runs it.
"""

import json
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from qgis_run import QGIS_TESTS, ROADKD, qgis

pytestmark = QGIS_TESTS


def _write_scene(path: Path, pixels: np.ndarray) -> Path:
    """A 0.5 m scene of ``pixels`` (bands, rows, cols) in UTM 18N, 0 as nodata."""
    bands, height, width = pixels.shape
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=bands,
        dtype=pixels.dtype.name,
        crs="EPSG:32618",
        transform=Affine(0.5, 0, 445000, 0, -0.5, 5030000),
        nodata=0,
    ) as dst:
        dst.write(pixels)
    return path


def test_detect_roads_in_qgis(
    profile: Path, tmp_path: Path, save_all_road_model: Callable[..., Path]
) -> None:

    # TILE, OVERLAP and THRESHOLD are left empty: roadkd's defaults (the model's 128 px tile)
    # apply. A model that calls every valid pixel road, on a scene whose only valid pixels form a
    # horizontal 10 m strip: the answer is one straight 100 m road, whatever the weights.
    save_all_road_model(tmp_path / "model.pt")
    pixels = np.full((3, 200, 200), 120, np.uint8)
    pixels[:, :90] = 0
    pixels[:, 110:] = 0
    scene = _write_scene(tmp_path / "scene.tif", pixels)

    roads, surface = tmp_path / "roads.gpkg", tmp_path / "surface.gpkg"
    run = qgis(
        profile,
        "--json",
        "run",
        "roadkd:detectroads",
        "--",
        f"INPUT={scene}",
        f"MODEL={tmp_path / 'model.pt'}",
        f"ROADKD={ROADKD}",
        f"OUTPUT={roads}",
        f"SURFACE={surface}",
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert json.loads(run.stdout)["results"]["OUTPUT"] == str(roads)

    lines = gpd.read_file(roads, layer="centerlines")
    assert len(lines) == 1 and lines.geom_type.tolist() == ["LineString"]
    assert lines.crs.to_epsg() == 32618
    assert lines.iloc[0]["length_m"] == pytest.approx(100, rel=0.02)
    assert len(gpd.read_file(surface, layer="surface")) == 1
    for path, layer in ((roads, "centerlines"), (surface, "surface")):
        check = qgis(
            profile,
            "--json",
            "run",
            "qgis:checkvalidity",
            "--",
            f"INPUT_LAYER={path}|layername={layer}",
            "METHOD=2",
        )
        results = json.loads(check.stdout)["results"]
        assert (
            results["VALID_COUNT"] == 1
            and results["INVALID_COUNT"] == 0
            and results["ERROR_COUNT"] == 0
        )


def test_detect_roads_reports_roadkd_errors(profile: Path, tmp_path: Path) -> None:
    scene = tmp_path / "scene.tif"
    with rasterio.open(
        scene,
        "w",
        driver="GTiff",
        width=64,
        height=64,
        count=3,
        dtype="uint8",
        crs="EPSG:32618",
        transform=Affine(0.5, 0, 445000, 0, -0.5, 5030000),
    ) as dst:
        dst.write(np.zeros((3, 64, 64), np.uint8))
    run = qgis(
        profile,
        "run",
        "roadkd:detectroads",
        "--",
        f"INPUT={scene}",
        f"MODEL={tmp_path / 'missing.ckpt'}",
        f"ROADKD={ROADKD}",
        f"OUTPUT={tmp_path / 'r.gpkg'}",
    )
    assert run.returncode != 0
    assert "model not found" in run.stdout + run.stderr
    # A tile size that is given reaches roadkd, which checks it.
    run = qgis(
        profile,
        "run",
        "roadkd:detectroads",
        "--",
        f"INPUT={scene}",
        f"MODEL={tmp_path / 'missing.ckpt'}",
        "TILE=100",
        f"ROADKD={ROADKD}",
        f"OUTPUT={tmp_path / 'r.gpkg'}",
    )
    assert run.returncode != 0
    assert "not a positive multiple of 32" in run.stdout + run.stderr


def test_detect_roads_passes_bands_scale_and_native_resolution(
    profile: Path,
    tmp_path: Path,
    save_all_road_model: Callable[..., Path],
) -> None:
    # A 4-band uint16 scene: bands 1-3 valid everywhere, band 4 (nodata 0) only on a
    # horizontal 10 m strip. With --bands 4,2,1 the valid pixels, and so the all-road
    # model's road, are the strip: one straight 100 m road, on the scene's own 0.5 m grid.
    save_all_road_model(tmp_path / "model.pt")
    pixels = np.full((4, 200, 200), 1920, np.uint16)
    pixels[3, :90] = 0
    pixels[3, 110:] = 0
    scene = _write_scene(tmp_path / "scene4.tif", pixels)
    roads = tmp_path / "roads.gpkg"
    common = [
        "run",
        "roadkd:detectroads",
        "--",
        f"INPUT={scene}",
        f"MODEL={tmp_path / 'model.pt'}",
        f"ROADKD={ROADKD}",
        f"OUTPUT={roads}",
    ]
    run = qgis(
        profile, *common, "BANDS=4,2,1", "SCALE_MIN=0", "SCALE_MAX=4080", "NATIVE_RESOLUTION=true"
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert "--bands 4,2,1 --scale 0.0 4080.0 --native-resolution" in log
    assert "uint16 0-4080, 0-4080, 0-4080 -> 0-255 (--scale)" in log
    assert "read at its own 0.5 m/px" in log
    lines = gpd.read_file(roads, layer="centerlines")
    assert len(lines) == 1 and lines.iloc[0]["length_m"] == pytest.approx(100, rel=0.02)
    # Half a scale is refused by the plugin; an empty field is left to roadkd.
    half = qgis(profile, *common, "SCALE_MIN=0")
    assert half.returncode != 0
    assert "give both pixel values of the scale" in half.stdout + half.stderr
