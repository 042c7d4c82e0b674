"""The "Compare road layers" Processing algorithm, run in a real QGIS (qgis_process).

Skipped, with the reason, where QGIS is not installed.
"""

import itertools
import re
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import pytest
from qgis_run import PLUGIN, QGIS_TESTS, ROADKD, qgis
from shapely.geometry import LineString, box

X0, Y0 = 445000.0, 5030000.0

pytestmark = QGIS_TESTS


def test_compare_road_layers_in_qgis(profile: Path, tmp_path: Path) -> None:
    # truth: two 100 m roads in UTM; detected: one of them, in degrees, in a multi-layer file
    both = [
        LineString([(X0, Y0), (X0 + 100, Y0)]),
        LineString([(X0, Y0 + 50), (X0 + 100, Y0 + 50)]),
    ]
    truth = tmp_path / "truth.shp"
    gpd.GeoDataFrame(geometry=both, crs="EPSG:32618").to_file(truth)
    detected = tmp_path / "detected.gpkg"
    gpd.GeoDataFrame(geometry=[box(X0, Y0, X0 + 1, Y0 + 1)], crs="EPSG:32618").to_file(
        detected, layer="surface"
    )
    gpd.GeoDataFrame(geometry=both[:1], crs="EPSG:32618").to_crs("EPSG:4326").to_file(
        detected, layer="centerlines"
    )
    aoi = tmp_path / "aoi.geojson"
    area = box(X0 - 10, Y0 - 10, X0 + 110, Y0 + 60)
    gpd.GeoDataFrame(geometry=[area], crs="EPSG:32618").to_file(aoi)
    errors, html = tmp_path / "errors.gpkg", tmp_path / "report.html"
    run = qgis(
        profile,
        "run",  # not --json, whose log leaves out the bar's texts
        "roadkd:compareroads",
        "--",
        f"TRUTH={truth}",
        f"PRED={detected}|layername=centerlines",
        f"AOI={aoi}",
        "BUFFER=2",
        "CROSSINGS=2",  # apart
        f"ROADKD={ROADKD}",
        f"ERRORS={errors}",
        f"HTML={html}",
    )  # no REPORT: no JSON file is written
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # the outputs, as qgis_process lists them: NAME:<tab>value
    results = dict(re.findall(r"^([A-Z_]+):\t(.*)$", run.stdout, re.MULTILINE))
    # the bar moves through the comparison's steps, only up, to 100 %
    progress = [int(p) for p in re.findall(r"\((\d+) %\)", run.stdout)]
    assert len(progress) >= 4 and progress[-1] == 100, run.stdout[-3000:]
    assert all(0 < a < b for a, b in itertools.pairwise(progress)), progress
    assert "Scoring APLS" in run.stdout and "Collecting missed and false roads" in run.stdout
    assert float(results["LENGTH_RECALL"]) == pytest.approx(0.5, abs=1e-3)
    assert float(results["LENGTH_PRECISION"]) == 1.0
    assert results["MISSED"] == f"{errors}|layername=missed"
    assert "REPORT" not in results and not list(tmp_path.glob("*.json"))
    # the HTML report (the Results Viewer opens it): scores, lengths and settings
    assert results["HTML"] == str(html)
    page = html.read_text()
    assert "<title>detected compared with truth</title>" in page
    assert '<td>Length recall</td><td class="value">0.500</td>' in page
    assert (
        '<td>Missed (truth with no detected road nearby)</td><td class="value">0.100</td>' in page
    )
    assert "<td>buffer_m</td><td>2.0</td>" in page
    missed = gpd.read_file(errors, layer="missed")
    assert missed.geometry.length.sum() == pytest.approx(100, abs=0.01)
    assert len(gpd.read_file(errors, layer="false")) == 0


STYLE_CHECK = """
import sys
from qgis.core import (QgsApplication, QgsExpressionContextUtils, QgsFeature,
                       QgsRenderContext, QgsVectorLayer)
QgsApplication.setPrefixPath("/usr", True)
app = QgsApplication([], False)
app.initQgis()
layer = QgsVectorLayer("LineString?crs=EPSG:32618&field=confidence:double", "roads", "memory")
message, ok = layer.loadNamedStyle(sys.argv[1])
assert ok, message
renderer, context = layer.renderer(), QgsRenderContext()
context.expressionContext().appendScope(QgsExpressionContextUtils.layerScope(layer))
renderer.startRender(context, layer.fields())
for value in (0.1, 0.6, 0.95, None):
    feature = QgsFeature(layer.fields())
    feature.setAttribute(0, value)
    context.expressionContext().setFeature(feature)
    print(renderer.symbolForFeature(feature, context).symbolLayer(1).color().name())
renderer.stopRender(context)
print(renderer.type())
"""


def test_the_road_style_colours_lines_by_confidence(tmp_path: Path) -> None:
    python = shutil.which("python3", path="/usr/bin")
    script = tmp_path / "style.py"
    script.write_text(STYLE_CHECK)
    assert python is not None
    run = subprocess.run(
        [python, str(script), str(PLUGIN / "roads.qml")],
        env={"PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    # red below 0.3, light blue 0.5-0.7, dark blue above 0.7 (no green: lawns would hide
    # it); no confidence counts as 0
    assert run.stdout.split() == ["#d7191c", "#abd9e9", "#2c7bb6", "#d7191c", "graduatedSymbol"]
