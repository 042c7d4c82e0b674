"""int8 ONNX export: calibrated on the user's imagery, checked against the float model.

Two tiny networks stand in for students: one certain of road everywhere (quantisation keeps
its map: the export passes its self-check) and one whose road probability hovers around
the threshold (int8 rounding flips its pixels: the export refuses, or warns with --force,
while its probabilities still track the float model's closely).
"""

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import onnx
import pytest
import rasterio
import torch
from affine import Affine
from click.testing import CliRunner, Result
from qgis_run import QGIS_PROCESS, ROADKD, qgis
from roadkd_cli.main import cli

from roadkd.datasets.layout import write_geotiff
from roadkd.device import threads_text, usable_cores
from roadkd.export.int8 import INT8_KEY, MIN_ROAD_IOU
from roadkd.inference import load_backend
from roadkd.models import DeployBundle, ModelConfig, build_model, save_bundle


def _export(model: Path, out: Path, *options: str) -> Result:
    return CliRunner().invoke(cli, ["export", "--model", str(model), "--out", str(out), *options])


def _metadata(path: Path) -> dict[str, object]:
    return {p.key: json.loads(p.value) for p in onnx.load(str(path)).metadata_props}


@pytest.fixture(scope="module")
def certain(
    tmp_path_factory: pytest.TempPathFactory, save_all_road_model: Callable[..., Path]
) -> Path:
    """A network that calls every pixel road with p = sigmoid(5)."""
    return save_all_road_model(tmp_path_factory.mktemp("certain") / "student.pt", tile_size=64)


@pytest.fixture(scope="module")
def hesitant(tmp_path_factory: pytest.TempPathFactory, shallow_config: ModelConfig) -> Path:
    """A network whose road probability stays within a hair of 0.5, on both sides."""
    torch.manual_seed(0)
    model = build_model(shallow_config).eval()
    with torch.no_grad():
        model.segmentation_head[0].weight.mul_(0.01)
        model.segmentation_head[0].bias.zero_()
    path = tmp_path_factory.mktemp("hesitant") / "student.pt"
    save_bundle(DeployBundle(model=model, config=shallow_config, tile_size=64), path)
    return path


def test_int8_export_keeps_the_float_metadata_and_checks_itself(
    certain: Path, road_dataset: Path, tmp_path: Path
) -> None:
    float_path, int8_path = tmp_path / "float.onnx", tmp_path / "int8.onnx"
    assert _export(certain, float_path, "--threshold", "0.4").exit_code == 0
    result = _export(
        certain, int8_path, "--threshold", "0.4", "--int8", "--calibration", str(road_dataset)
    )
    assert result.exit_code == 0, result.output
    # the dataset's train and val scenes (256 px: 16 tiles of 64 px each), a third held out
    assert result.output.strip() == (
        f"-> {int8_path} (int8, calibrated on 22 tiles of 64 px from 2 scene(s); against the "
        "float model on 10 held-out tiles: road IoU 1.000, pixel agreement 100.00%)"
    )
    metadata = _metadata(int8_path)
    check = metadata.pop(INT8_KEY)
    assert metadata == _metadata(float_path)  # Deepness's and roadkd's, threshold included
    assert metadata["seg_thresh"] == 0.4
    assert isinstance(check, dict) and check["road_iou"] == 1.0 and check["check_tiles"] == 10
    graph = onnx.load(str(int8_path)).graph
    weights = {t.name: t for t in graph.initializer}
    per_channel = [
        n
        for n in graph.node
        if n.op_type == "DequantizeLinear" and weights[n.input[1]].dims not in ([], [1])
    ]
    assert per_channel and any(n.op_type == "QuantizeLinear" for n in graph.node)
    int8, reference = load_backend(int8_path, "cpu"), load_backend(certain, "cpu")
    assert int8.precision == "int8" and load_backend(float_path, "cpu").precision == "float32"
    for tile in (64, 96):  # any tile size, like the float export
        pixels = torch.rand(2, 3, tile, tile) * 255
        difference = int8.predict(pixels) - reference.predict(pixels)
        assert float(difference.abs().max()) < 0.01


def test_int8_model_runs_in_predict_and_evaluate(
    certain: Path, road_dataset: Path, tmp_path: Path
) -> None:
    model = tmp_path / "int8.onnx"
    assert _export(certain, model, "--int8", "--calibration", str(road_dataset)).exit_code == 0
    test_scene = json.loads((road_dataset / "splits.json").read_text())["test"][0]
    scene = road_dataset / "images" / f"{test_scene}.tif"
    out = tmp_path / "roads.geojson"
    args = ["predict", str(scene), "--model", str(model), "--out", str(out), "--device", "cpu"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0 and out.exists(), result.output
    # which runtime and precision ran, on every core this process may use
    cores = usable_cores()
    assert f"model int8.onnx: ONNX Runtime, int8, CPU, {threads_text(cores)}" in result.output
    # vectorising processes beside the model take cores from its threads
    result = CliRunner().invoke(cli, [*args, "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert f"ONNX Runtime, int8, CPU, {threads_text(max(1, cores - 2))}" in result.output
    metrics = tmp_path / "metrics.json"
    args = ["evaluate", "--model", str(model), "--data", str(road_dataset), "--split", "test"]
    result = CliRunner().invoke(cli, [*args, "--out", str(metrics), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert json.loads(metrics.read_text())["overall"]["recall"] == pytest.approx(1.0)


def test_int8_below_the_float_agreement_is_refused_unless_forced(
    hesitant: Path, road_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "int8.onnx"
    result = _export(hesitant, out, "--int8", "--calibration", str(road_dataset))
    assert result.exit_code == 1 and not out.exists()
    assert f"below {MIN_ROAD_IOU}: not written" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = _export(hesitant, out, "--int8", "--calibration", str(road_dataset), "--force")
    assert result.exit_code == 0 and out.exists()
    warning, summary = result.output.strip().splitlines()
    assert warning.startswith("Warning: the int8 model's road IoU against the float model is")
    check = _metadata(out)[INT8_KEY]
    assert isinstance(check, dict) and check["road_iou"] < MIN_ROAD_IOU
    assert f"road IoU {check['road_iou']:.3f}" in summary
    # the masks flip where the float model hesitates, yet the probabilities agree
    pixels = torch.rand(4, 3, 64, 64) * 255
    int8 = load_backend(out, "cpu").predict(pixels)
    reference = load_backend(hesitant, "cpu").predict(pixels)
    assert float((int8 - reference).abs().mean()) < 0.005


def _scene(path: Path, bands: int, size: int) -> Path:
    pixels = (np.random.default_rng(0).random((bands, size, size)) * 255).astype(np.uint8)
    write_geotiff(path, pixels, Affine(0.21, 0, 445000.0, 0, -0.21, 5030000.0), "EPSG:32618")
    return path


def test_int8_export_mistakes_end_in_one_line(
    certain: Path, road_dataset: Path, tmp_path: Path
) -> None:
    scene = next((road_dataset / "images").iterdir())
    small = _scene(tmp_path / "small.tif", 3, 40)  # smaller than one 64 px tile
    gray = _scene(tmp_path / "gray.tif", 1, 128)
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"not a raster")
    only_test = tmp_path / "only_test"  # a dataset whose every scene is a test scene
    shutil.copytree(road_dataset, only_test)
    splits = json.loads((only_test / "splits.json").read_text())
    scenes = [*splits["train"], *splits["val"], *splits["test"], *splits["unlabeled"]]
    splits.update(train=[], val=[], unlabeled=[], test=scenes)
    (only_test / "splits.json").write_text(json.dumps(splits))
    onnx_model = tmp_path / "float.onnx"
    assert _export(certain, onnx_model).exit_code == 0
    out = tmp_path / "int8.onnx"
    cases = [
        (certain, ["--int8"], "an int8 model needs calibration imagery: --calibration"),
        (
            certain,
            ["--int8", "--calibration", str(tmp_path / "none")],
            "calibration data not found",
        ),
        (certain, ["--int8", "--calibration", str(gray)], "has 1 band(s) but the model needs 3"),
        (certain, ["--int8", "--calibration", str(small)], "gives 0 usable tiles of 64 px"),
        (certain, ["--int8", "--calibration", str(corrupt)], "not a raster GDAL can open"),
        (
            certain,
            ["--int8", "--calibration", str(scene), "--bands", "1,2,5"],
            "--bands 1,2,5: " + scene.name + " has bands 1-3 only",
        ),
        (
            certain,
            ["--int8", "--calibration", str(only_test)],
            "names no scene outside its test split",
        ),
        (certain, ["--calibration", str(scene)], "--calibration, --bands, --scale and --force go"),
        (onnx_model, ["--int8", "--calibration", str(scene)], "is already an ONNX export"),
    ]
    for model, options, message in cases:
        result = _export(model, out, *options)
        lines = result.output.strip().splitlines()
        assert result.exit_code != 0 and len(lines) == 1 and message in lines[0], (options, lines)
        assert not out.exists()
    safetensors = tmp_path / "m.safetensors"
    result = _export(certain, safetensors, "--format", "safetensors", "--int8")
    assert result.exit_code == 1 and "use it with --format onnx" in result.output
    assert not safetensors.exists()


@pytest.mark.slow
@pytest.mark.skipif(QGIS_PROCESS is None, reason="QGIS (qgis_process) is not installed")
def test_qgis_plugin_runs_the_int8_model(
    certain: Path, road_dataset: Path, profile: Path, tmp_path: Path
) -> None:
    """The plugin's Detect roads takes an int8 export as it takes any model file."""
    model = tmp_path / "int8.onnx"
    assert _export(certain, model, "--int8", "--calibration", str(road_dataset)).exit_code == 0
    pixels = np.full((3, 200, 200), 120, np.uint8)
    pixels[:, :90] = pixels[:, 110:] = 0  # the only valid pixels: a 10 m wide strip
    scene = tmp_path / "scene.tif"
    with rasterio.open(
        scene, "w", driver="GTiff", width=200, height=200, count=3, dtype="uint8",
        crs="EPSG:32618", transform=Affine(0.5, 0, 445000, 0, -0.5, 5030000), nodata=0,
    ) as dst:  # fmt: skip
        dst.write(pixels)
    roads = tmp_path / "roads.gpkg"
    run = qgis(
        profile, "--json", "run", "roadkd:detectroads", "--", f"INPUT={scene}",
        f"MODEL={model}", f"ROADKD={ROADKD}", f"OUTPUT={roads}",
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    lines = gpd.read_file(roads, layer="centerlines")
    assert len(lines) == 1 and lines.iloc[0]["length_m"] == pytest.approx(100, rel=0.02)
