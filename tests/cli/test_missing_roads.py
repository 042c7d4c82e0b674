"""The README's "Find roads missing from OpenStreetMap" flow, end to end on synthetic data.

A synthetic suburb stands in for the user's scene; its surface labels, as a probability
raster of 0.9 on road, stand in for `roadkd predict`'s (the same vectoriser writes the
centrelines); its centreline labels, less one road and tagged as OpenStreetMap would, are
the recorded OSM layer. `data osm --osm` reads that layer as a user's extract, and
`evaluate --errors` must put the missing road, with its confidence, in the `false` layer.
"""

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner
from roadkd_cli.main import cli

from roadkd.datasets.synthetic import (
    ROADNET_RESOLUTION_M,
    SYNTHETIC_CRS,
    SYNTHETIC_ORIGIN,
    generate_scene,
)
from roadkd.datasets.synthetic_styles import SceneStyle

SIZE = 384
#: The road probability the stand-in prediction gives every road pixel.
ROAD_P = 0.9


def _write(path: Path, array: np.ndarray) -> Path:
    data = array if array.ndim == 3 else array[None]
    profile = {
        "driver": "GTiff",
        "width": SIZE,
        "height": SIZE,
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": SYNTHETIC_CRS,
        "transform": Affine(
            ROADNET_RESOLUTION_M,
            0,
            SYNTHETIC_ORIGIN[0],
            0,
            -ROADNET_RESOLUTION_M,
            SYNTHETIC_ORIGIN[1],
        ),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_false_layer_holds_the_road_missing_from_osm(tmp_path: Path) -> None:
    # A dense suburb (more road than a realistic scene, for a network of several roads)
    # whose surface and centreline labels vectorise to the same network.
    scene = generate_scene(
        SIZE, np.random.default_rng(0), SceneStyle(density="dense"), road_share=(0.25, 0.45)
    )
    image = _write(tmp_path / "scene.tif", scene.image)
    prob = _write(tmp_path / "prob.tif", np.where(scene.surface == 1, ROAD_P, 0.02).astype("f4"))
    centreline = _write(tmp_path / "centreline.tif", scene.centerline)
    roads, lines = tmp_path / "roads.gpkg", tmp_path / "lines.gpkg"
    _run("vectorize", str(prob), "--out", str(roads), "--quiet")  # as predict writes them
    _run("vectorize", str(centreline), "--out", str(lines), "--quiet")

    # The recorded OSM layer: every road but one, in WGS84 with OSM tags.
    truth = gpd.read_file(lines, layer="centerlines")
    assert len(truth) >= 5
    missing = truth.geometry.length.sort_values().index[len(truth) // 2]
    osm = truth.drop(index=missing)[["geometry"]].to_crs("EPSG:4326")
    osm["highway"], osm["osm_id"] = "residential", [str(1000 + i) for i in range(len(osm))]
    extract = tmp_path / "extract.geojson"
    osm.to_file(extract)

    reference = tmp_path / "osm.gpkg"
    _run("data", "osm", str(image), "--osm", str(extract), "--out", str(reference))
    errors = tmp_path / "errors.gpkg"
    report = _run(
        *("evaluate", "--truth", str(reference), "--pred", str(roads)),
        *("--errors", str(errors), "--prob", str(prob)),
    )
    assert "missed 0.00 km" in report  # OSM holds nothing the prediction lacks

    false = gpd.read_file(errors, layer="false")
    assert {"length_m", "confidence", "min_confidence"} <= set(false.columns)
    gone = truth.loc[[missing]].to_crs(false.crs).geometry.iloc[0]
    near = false.geometry.distance(gone) < 2.0
    candidates = false[near]
    assert candidates.length.sum() >= 0.8 * gone.length
    assert candidates["confidence"].to_numpy() == pytest.approx(ROAD_P, abs=0.02)
    # Nothing else of note: what is left is slivers at the junctions.
    assert false[~near].length.sum() < 0.1 * gone.length
    assert [name for name, _ in pyogrio.list_layers(errors)] == ["missed", "false"]
