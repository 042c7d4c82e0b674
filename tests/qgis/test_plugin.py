"""The QGIS Processing plugin, run in a real QGIS through qgis_process (headless).

Skipped, with the reason, where QGIS is not installed; `.ci/run` installs Debian's qgis
and python3-qgis so that CI runs it.
"""

import itertools
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
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


def test_detect_roads_in_qgis(
    profile: Path, tmp_path: Path, save_all_road_model: Callable[..., Path]
) -> None:
    # TILE, OVERLAP and THRESHOLD are left empty: roadkd's defaults (the model's 128 px
    # tile) apply. A model that calls every valid pixel road, on a 4-band uint16 scene whose
    # band 4 (nodata 0) is valid only on a horizontal 10 m strip: with bands 4,2,1 the answer
    # is one straight 240 m road, whatever the weights, read on the scene's own 0.5 m grid
    # (480 px: 25 tiles, 2 x 2 blocks of 256 px, vectorised while tiles are predicted).
    save_all_road_model(tmp_path / "model.pt")
    pixels = np.full((4, 480, 480), 1920, np.uint16)
    pixels[3, :230] = 0
    pixels[3, 250:] = 0
    scene = _write_scene(tmp_path / "scene4.tif", pixels)
    roads, surface = tmp_path / "roads.gpkg", tmp_path / "surface.gpkg"
    # No roadkd command given: the provider setting's (Settings > Options > Processing >
    # Providers > roadkd), here saved in the profile, is run; no roadkd is on QGIS's PATH.
    save_provider_setting(profile, str(ROADKD))
    run = qgis(
        profile,
        "run",
        "roadkd:detectroads",
        "--",
        f"INPUT={scene}",
        f"MODEL={tmp_path / 'model.pt'}",
        f"OUTPUT={roads}",
        f"SURFACE={surface}",
        # advanced parameters, each reaching roadkd only when set
        "BANDS=4,2,1",
        "SCALE_MIN=0",
        "SCALE_MAX=4080",
        "NATIVE_RESOLUTION=true",
        "BLOCK=256",
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert f"Running: {ROADKD} predict" in run.stdout
    assert "--block 256 --bands 4,2,1 --scale 0.0 4080.0 --native-resolution" in log
    assert "uint16 0-4080, 0-4080, 0-4080 -> 0-255 (--scale)" in log
    assert "read at its own 0.5 m/px" in log and "(4 blocks, " in log
    assert f"OUTPUT:\t{roads}" in run.stdout
    # The bar follows the 25 tiles, then roadkd's last stages: each move is shown in the
    # progress text with its value, which only grows, from above 0 to 100.
    progress = [int(p) for p in re.findall(r"\((\d+) %\)", run.stdout)]
    assert len(progress) >= 6 and progress[-1] == 100, run.stdout[-3000:]
    assert all(0 < a < b <= 100 for a, b in itertools.pairwise(progress)), progress
    assert "Detecting roads: 25 of 25 tiles" in run.stdout
    assert '{"event"' not in log  # progress lines move the bar, not the log

    lines = gpd.read_file(roads, layer="centerlines")
    assert len(lines) == 1 and lines.geom_type.tolist() == ["LineString"]
    assert lines.crs.to_epsg() == 32618 and lines.is_valid.all()
    assert lines.iloc[0]["length_m"] == pytest.approx(240, rel=0.02)
    assert len(gpd.read_file(surface, layer="surface")) == 1
    check = qgis(
        profile,
        "--json",
        "run",
        "qgis:checkvalidity",
        "--",
        f"INPUT_LAYER={surface}|layername=surface",
        "METHOD=2",
    )
    results = json.loads(check.stdout)["results"]
    assert (results["VALID_COUNT"], results["INVALID_COUNT"], results["ERROR_COUNT"]) == (1, 0, 0)


def test_detect_roads_reports_roadkd_errors(profile: Path, tmp_path: Path) -> None:
    scene = _write_scene(tmp_path / "scene.tif", np.full((3, 64, 64), 9, np.uint8))
    # The bands field is passed as it is; roadkd refuses a bad one (before loading anything)
    # and its Error line is the algorithm's error.
    run = qgis(
        profile,
        "run",
        "roadkd:detectroads",
        "--",
        f"INPUT={scene}",
        f"MODEL={tmp_path / 'missing.ckpt'}",
        "BANDS=0,x",
        f"ROADKD={ROADKD}",
        f"OUTPUT={tmp_path / 'r.gpkg'}",
    )
    assert run.returncode != 0
    assert "roadkd failed: Error: Invalid value for '--bands': bands must be 1-based" in (
        run.stdout + run.stderr
    )
    assert not list(tmp_path.glob("r.*")) and not list(tmp_path.glob(".roadkd*"))


PROJECT_CHECK = """
import json, os, sys
from qgis.core import (QgsApplication, QgsProcessingContext, QgsProcessingFeedback, QgsProject,
                       QgsVectorLayer)
from qgis.PyQt.QtGui import QColor
QgsApplication.setPrefixPath("/usr", True)
app = QgsApplication([], True)  # with its GUI (offscreen): the dialog's widgets are made too
app.initQgis()
plugin, truth, detect, big_scene, cancelled = sys.argv[1:]
sys.path[:0] = ["/usr/share/qgis/python/plugins", plugin]
from processing.core.Processing import Processing
from processing.core.ProcessingConfig import ProcessingConfig
import processing
from qgis.gui import QgsGui, QgsProcessingGui
Processing.initialize()
from roadkd_qgis.provider import RoadkdProvider
provider = RoadkdProvider()  # kept: QGIS holds Python providers weakly
registry = QgsApplication.processingRegistry()
registry.addProvider(provider)
detect = json.loads(detect)
found = {"settings": [[s.name, s.description] for s in ProcessingConfig.getSettings()["roadkd"]]}


def roadkd_scratch():
    return [name for name in os.listdir(os.environ["TMPDIR"]) if name.startswith("roadkd")]


class CancelAmongTheTiles(QgsProcessingFeedback):
    # Presses Cancel as soon as the bar says the tiles are being predicted, long before
    # roadkd could finish the big scene; keeps what the log said and the scratch then.
    def __init__(self):
        super().__init__()
        self.log, self.texts, self.scratch = [], [], None

    def setProgressText(self, text):
        self.texts.append(text)
        if text.startswith("Detecting roads") and not self.isCanceled():
            self.scratch = roadkd_scratch()
            self.cancel()

    def pushInfo(self, info):
        self.log.append(info)

    def reportError(self, error, fatalError=False):
        self.log.append(error)


def error_of(parameters, feedback=None):
    try:
        processing.run("roadkd:detectroads", parameters, feedback=feedback)
    except Exception as err:
        return str(err)


def naming(folder):
    # the processes whose command line names folder (roadkd, its workers), but this one
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if folder.encode() in cmdline.read() and int(pid) != os.getpid():
                    pids.append(pid)
        except OSError:  # it ended meanwhile
            pass
    return pids


feedback = CancelAmongTheTiles()
error = error_of(
    dict(detect, INPUT=big_scene, OUTPUT=cancelled + "/roads.gpkg", SURFACE=cancelled + "/s.gpkg"),
    feedback,
)

found["cancel"] = {
    "error": error,
    "log": feedback.log,
    "texts": feedback.texts,
    "scratch_then": feedback.scratch,
    "running": naming(cancelled),
    # listed before another roadkd starts (each sweeps what a killed one left in the temp folder)
    "left": os.listdir(cancelled) + roadkd_scratch(),
}
# refused by the plugin before roadkd starts
found["half_scale"] = error_of(dict(detect, SCALE_MIN=0))

project = QgsProject.instance()
project.addMapLayer(QgsVectorLayer(truth, "my roads", "ogr"))
processing.runAndLoadResults("roadkd:detectroads", detect)
layers = [node.layer() for node in project.layerTreeRoot().findLayers()]
found["layers"] = [[layer.name(), layer.renderer().type()] for layer in layers]
found["fill"] = [
    layer.renderer().symbol().symbolLayer(0).color().name(QColor.HexArgb)
    for layer in project.mapLayersByName("scene: road surface")
]
compare = registry.createAlgorithmById("roadkd:compareroads")
names = {layer.id(): layer.name() for layer in layers}
found["truth"] = names.get(compare.parameterDefinition("TRUTH").defaultValue())
found["pred"] = names.get(compare.parameterDefinition("PRED").defaultValue())
found["report_output"] = compare.outputDefinition("HTML").type()
# what the dialog shows in a few number fields
shown = {}
for algorithm, name in (("compareroads", "BUFFER"), ("maketrainingdata", "DEFAULT_WIDTH")):
    definition = registry.algorithmById("roadkd:" + algorithm).parameterDefinition(name)
    wrapper = QgsGui.processingGuiRegistry().createParameterWidgetWrapper(
        definition, QgsProcessingGui.Standard
    )
    shown[name] = wrapper.createWrappedWidget(QgsProcessingContext()).text()
found["shown"] = shown
print(json.dumps(found))
"""


def test_detect_roads_in_a_project_cancels_cleanly_and_loads_styled_layers(
    tmp_path: Path, save_all_road_model: Callable[..., Path]
) -> None:
    # In QGIS's own Python, as the desktop runs it: Cancel pressed during the tiles of a big
    # scene stops roadkd and leaves neither output nor scratch folder; the provider's setting
    # is listed under Processing > Providers > roadkd; Detect roads' outputs are loaded
    # named after the raster, the translucent surface under the centrelines (though QGIS
    # loads it last: its path sorts after the lines'), and Compare then offers two
    # different layers.
    save_all_road_model(tmp_path / "model.pt")
    pixels = np.full((3, 100, 100), 120, np.uint8)
    pixels[:, :40] = 0
    pixels[:, 60:] = 0
    scene = _write_scene(tmp_path / "scene.tif", pixels)
    # 8192 px at the model's 0.21 m/px: 5329 tiles, minutes of work, in a file of a few kB
    # (a sparse GeoTIFF: the blocks never written read as 0, valid pixels)
    big = tmp_path / "big.tif"
    with rasterio.open(
        big,
        "w",
        driver="GTiff",
        width=8192,
        height=8192,
        count=3,
        dtype="uint8",
        crs="EPSG:32618",
        transform=Affine(0.21, 0, 445000, 0, -0.21, 5030000),
        tiled=True,
        compress="deflate",
        SPARSE_OK=True,
    ):
        pass
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
            str(big),
            str(cancelled),
        ],
        env={
            "PATH": "/usr/bin:/bin",
            "QT_QPA_PLATFORM": "offscreen",
            "HOME": str(tmp_path),
            "XDG_RUNTIME_DIR": str(scratch),
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
    assert cancel["error"] == "cancelled", cancel
    assert cancel["texts"][-1] == "Detecting roads: 0 of 5329 tiles"  # cancelled there
    assert [name.split("-")[2] for name in cancel["scratch_then"]] == ["predict"]  # at work
    assert cancel["running"] == []  # roadkd (the only other process naming that folder) stopped
    assert cancel["left"] == []  # no output, no staged file, no scratch folder
    assert found["half_scale"] == (
        "give both pixel values of the scale (mapped to 0 and to 255), or neither"
    )
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
    # metres with two decimals, not QGIS's default six ("2.000000")
    assert found["shown"] == {"BUFFER": "2.00", "DEFAULT_WIDTH": "6.00"}
