"""The QGIS Processing plugin, run in a real QGIS through qgis_process (headless).

Skipped, with the reason, where QGIS is not installed; `.ci/run` installs Debian's qgis
and python3-qgis so that CI runs it.
"""

import itertools
import json
import re
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from conftest import save_all_road_model
from qgis_run import PLUGIN, QGIS_PYTHON, QGIS_TESTS, ROADKD, qgis, save_provider_setting
from shapely.geometry import LineString

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


def test_detect_roads_in_qgis(profile: Path, tmp_path: Path) -> None:

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
        "run",
        "roadkd:detectroads",
        "--",
        f"INPUT={scene}",
        f"MODEL={tmp_path / 'model.pt'}",
        f"ROADKD={ROADKD}",
        f"OUTPUT={roads}",
        f"SURFACE={surface}",
        "BLOCK=256",  # an advanced parameter: 4 blocks, vectorised while tiles are predicted
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert f"OUTPUT:\t{roads}" in run.stdout
    assert "--block 256" in run.stdout and "(4 blocks, " in run.stdout
    # The bar follows the 25 tiles (the scene is read at the model's 0.21 m/px: 476 px, in
    # 2 x 2 blocks), then roadkd's last stages: each move is shown in the progress text with
    # its value, which only grows, from above 0 to 100.
    progress = [int(p) for p in re.findall(r"\((\d+) %\)", run.stdout)]
    assert len(progress) >= 6 and progress[-1] == 100, run.stdout[-3000:]
    assert all(0 < a < b <= 100 for a, b in itertools.pairwise(progress)), progress
    assert "Detecting roads: 25 of 25 tiles" in run.stdout
    assert '{"event"' not in run.stdout + run.stderr  # progress lines move the bar, not the log

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
    # No roadkd command given: the provider setting's (Settings > Options > Processing >
    # Providers > roadkd), here saved in the profile, is run; no roadkd is on QGIS's PATH.
    save_provider_setting(profile, str(ROADKD))
    run = qgis(
        profile,
        "run",
        "roadkd:detectroads",
        "--",
        f"INPUT={scene}",
        f"MODEL={tmp_path / 'missing.ckpt'}",
        f"OUTPUT={tmp_path / 'r.gpkg'}",
    )
    assert run.returncode != 0
    assert f"Running: {ROADKD} predict" in run.stdout
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
    profile: Path, tmp_path: Path
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


PROJECT_CHECK = """
import json, os, sys
from qgis.core import QgsApplication, QgsProcessingFeedback, QgsProject, QgsVectorLayer
from qgis.PyQt.QtGui import QColor
QgsApplication.setPrefixPath("/usr", True)
app = QgsApplication([], False)
app.initQgis()
sys.path[:0] = ["/usr/share/qgis/python/plugins", sys.argv[1]]
from processing.core.Processing import Processing
from processing.core.ProcessingConfig import ProcessingConfig
import processing
Processing.initialize()
from roadkd_qgis.provider import RoadkdProvider
provider = RoadkdProvider()  # kept: QGIS holds Python providers weakly
QgsApplication.processingRegistry().addProvider(provider)
settings = ProcessingConfig.getSettings().get("roadkd", [])
detect = json.loads(sys.argv[3])


class CancelMidway(QgsProcessingFeedback):
    # Presses Cancel once the bar passes 20 %, as a user would; keeps what the log said.
    def __init__(self):
        super().__init__()
        self.log, self.percents = [], []
        self.progressChanged.connect(self.moved)

    def moved(self, percent):
        self.percents.append(percent)
        if percent >= 20:
            self.cancel()

    def pushInfo(self, info):
        self.log.append(info)

    def reportError(self, error, fatalError=False):
        self.log.append(error)


cancelled = dict(detect, OUTPUT=sys.argv[4] + "/roads.gpkg", SURFACE=sys.argv[4] + "/surface.gpkg")
feedback = CancelMidway()
try:
    processing.run("roadkd:detectroads", cancelled, feedback=feedback)
    error = None
except Exception as err:
    error = str(err)
roadkd_running = [
    pid for pid in os.listdir("/proc")
    if pid.isdigit() and int(pid) != os.getpid() and os.path.exists(f"/proc/{pid}/cmdline")
    and sys.argv[4].encode() in open(f"/proc/{pid}/cmdline", "rb").read()
]
# listed now: the next roadkd run sweeps what a killed one left in the temp folder
# (QGIS keeps files of its own there too)
left = os.listdir(sys.argv[4]) + [
    name for name in os.listdir(os.environ["TMPDIR"]) if name.startswith("roadkd")
]
project = QgsProject.instance()
project.addMapLayer(QgsVectorLayer(sys.argv[2], "my roads", "ogr"))
processing.runAndLoadResults("roadkd:detectroads", detect)
layers = [node.layer() for node in project.layerTreeRoot().findLayers()]
compare = QgsApplication.processingRegistry().createAlgorithmById("roadkd:compareroads")
names = {layer.id(): layer.name() for layer in layers}
print(json.dumps({
    "cancel": {
        "error": error,
        "log": feedback.log,
        "percents": feedback.percents,
        "running": roadkd_running,
        "left": left,
    },
    "settings": [[s.name, s.description] for s in settings],
    "layers": [[layer.name(), layer.renderer().type()] for layer in layers],
    "fill": [
        layer.renderer().symbol().symbolLayer(0).color().name(QColor.HexArgb)
        for layer in project.mapLayersByName("scene: road surface")
    ],
    "truth": names.get(compare.parameterDefinition("TRUTH").defaultValue()),
    "pred": names.get(compare.parameterDefinition("PRED").defaultValue()),
    "report_output": compare.outputDefinition("HTML").type(),
}))
"""


def test_detect_roads_in_a_project_cancels_cleanly_and_loads_styled_layers(
    tmp_path: Path,
) -> None:
    # In QGIS's own Python, as the desktop runs it: Cancel pressed midway stops roadkd and
    # leaves neither output nor scratch file; the provider's setting is listed under
    # Processing > Providers > roadkd; Detect roads' outputs are loaded named after the
    # raster, the translucent surface under the centrelines (though QGIS loads it last:
    # its path sorts after the lines'), and Compare then offers two different layers.
    save_all_road_model(tmp_path / "model.pt")
    pixels = np.full((3, 100, 100), 120, np.uint8)
    pixels[:, :40] = 0
    pixels[:, 60:] = 0
    scene = _write_scene(tmp_path / "scene.tif", pixels)
    truth = tmp_path / "truth.gpkg"
    x0, y0 = 445000, 5030000
    gpd.GeoDataFrame(
        geometry=[LineString([(x0, y0 - 25), (x0 + 50, y0 - 25)])], crs="EPSG:32618"
    ).to_file(truth)
    detect = {
        "INPUT": str(scene),
        "MODEL": str(tmp_path / "model.pt"),
        "ROADKD": str(ROADKD),
        "OUTPUT": str(tmp_path / "roads.gpkg"),
        "SURFACE": str(tmp_path / "z_surface.gpkg"),
    }
    script = tmp_path / "project.py"
    script.write_text(PROJECT_CHECK)
    cancelled, scratch = tmp_path / "cancelled", tmp_path / "scratch"
    cancelled.mkdir()
    scratch.mkdir()
    run = subprocess.run(
        [
            QGIS_PYTHON,
            str(script),
            str(PLUGIN.parent),
            str(truth),
            json.dumps(detect),
            str(cancelled),
        ],
        env={
            "PATH": "/usr/bin:/bin",
            "QT_QPA_PLATFORM": "offscreen",
            "HOME": str(tmp_path),
            "PYTHONDONTWRITEBYTECODE": "1",  # nothing written into the plugin's folder
            "TMPDIR": str(scratch),  # roadkd's scratch folders, here only
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    found = json.loads(run.stdout.splitlines()[-1])
    cancel = found["cancel"]
    assert cancel["error"] is not None and "cancelled" in " ".join(cancel["log"]), cancel
    assert 20 <= cancel["percents"][-1] < 90  # stopped among the tiles, not at the end
    assert cancel["running"] == []  # roadkd (the only other process naming that folder) stopped
    assert cancel["left"] == []  # no output, no staged file, no scratch folder
    assert found["settings"] == [
        [
            "ROADKD_EXECUTABLE",
            "roadkd executable (full path, e.g. /path/to/venv/bin/roadkd; empty: roadkd on "
            "QGIS's PATH)",
        ]
    ]
    assert found["layers"] == [
        ["scene: roads", "graduatedSymbol"],
        ["scene: road surface", "singleSymbol"],
        ["my roads", "singleSymbol"],
    ]
    assert found["fill"] == ["#5affc400"]  # #AARRGGBB: amber at 35 % opacity
    assert (found["truth"], found["pred"]) == ("my roads", "scene: roads")
    # Compare's report is an HTML output: the Results Viewer lists and opens it
    assert found["report_output"] == "outputHtml"
