"""Export (ONNX with Deepness metadata, safetensors) and prediction from the exports.

ONNX and safetensors files are checked before use: roadkd metadata present and well-formed,
no external data outside the model's folder.
"""

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import rasterio
import torch
from affine import Affine
from click.testing import CliRunner
from roadkd_cli.main import cli
from safetensors import safe_open
from safetensors.torch import save_file

from roadkd.datasets.layout import write_geotiff
from roadkd.errors import RoadkdError
from roadkd.inference import load_backend
from roadkd.models import DeployBundle, ModelConfig, build_model, save_bundle
from roadkd.normalization import normalize

TINY = ModelConfig(
    arch="Unet", encoder="resnet18", kwargs={"encoder_depth": 3, "decoder_channels": (16, 8, 8)}
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    checkpoint = folder / "student.pt"
    save_bundle(DeployBundle(model=build_model(TINY).eval(), config=TINY, tile_size=64), checkpoint)
    onnx_path = folder / "student.onnx"
    result = CliRunner().invoke(
        cli, ["export", "--model", str(checkpoint), "--out", str(onnx_path)]
    )
    assert result.exit_code == 0, result.output
    return checkpoint, onnx_path


def test_onnx_matches_pytorch_with_dynamic_batch(exported: tuple[Path, Path]) -> None:
    checkpoint, onnx_path = exported
    torch_backend = load_backend(checkpoint, "cpu")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        pixels = torch.rand(batch, 3, 64, 64) * 255
        (out,) = session.run(
            None, {"image": normalize(pixels, torch_backend.mean, torch_backend.std).numpy()}
        )
        assert out.shape == (batch, 1, 64, 64)
        np.testing.assert_allclose(out[:, 0], torch_backend.predict(pixels).numpy(), atol=1e-4)


def test_deepness_metadata_decodes(exported: tuple[Path, Path]) -> None:
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(exported[1])).metadata_props}
    assert meta["model_type"] == "Segmentor"
    assert meta["class_names"] == ["road"]
    assert meta["resolution"] == pytest.approx(21.0)
    assert meta["tile_size"] == meta["tiles_size"] == 64
    assert meta["tiles_overlap"] == 15
    assert len(meta["standardization_mean"]) == len(meta["standardization_std"]) == 3
    assert meta["seg_thresh"] == 0.5


def test_onnx_backend_equals_torch_backend(exported: tuple[Path, Path]) -> None:
    onnx_backend = load_backend(exported[1], "cpu")
    torch_backend = load_backend(exported[0], "cpu")
    assert onnx_backend.tile_size == 64 and onnx_backend.in_channels == 3
    pixels = torch.rand(2, 3, 64, 64) * 255
    np.testing.assert_allclose(
        onnx_backend.predict(pixels).numpy(), torch_backend.predict(pixels).numpy(), atol=1e-4
    )


def test_export_bad_inputs(exported: tuple[Path, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["export", "--model", str(tmp_path / "none.ckpt"), "--out", str(tmp_path / "m.onnx")]
    )
    assert result.exit_code == 1 and "model not found" in result.output
    result = CliRunner().invoke(
        cli, ["export", "--model", str(exported[0]), "--out", str(tmp_path / "m.txt")]
    )
    assert result.exit_code == 1 and ".onnx" in result.output
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(Exception, match="not a valid ONNX"):
        load_backend(bad, "cpu")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx"]


# -- safetensors ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def safetensors_export(exported: tuple[Path, Path]) -> Path:
    out = exported[0].parent / "student.safetensors"
    args = ["export", "--model", str(exported[0]), "--out", str(out), "--format", "safetensors"]
    result = CliRunner().invoke(cli, [*args, "--threshold", "0.4"])
    assert result.exit_code == 0, result.output
    return out


def test_safetensors_metadata_holds_the_facts(safetensors_export: Path) -> None:
    with safe_open(safetensors_export, framework="pt") as reader:
        facts = json.loads(reader.metadata()["roadkd_deploy"])
    assert facts["config"] == {
        **TINY.to_dict(),
        "kwargs": {"encoder_depth": 3, "decoder_channels": [16, 8, 8]},
    }
    assert facts["resolution_m"] == pytest.approx(0.21)
    assert facts["tile_size"] == 64
    assert len(facts["mean"]) == len(facts["std"]) == facts["config"]["in_channels"] == 3
    assert facts["class_names"] == ["background", "road"]
    assert facts["extra"]["threshold"] == 0.4


def test_safetensors_predicts_what_the_checkpoint_predicts(
    exported: tuple[Path, Path], safetensors_export: Path, tmp_path: Path
) -> None:
    checkpoint_backend = load_backend(exported[0], "cpu")
    safetensors_backend = load_backend(safetensors_export, "cpu")
    pixels = torch.rand(2, 3, 64, 64) * 255
    difference = safetensors_backend.predict(pixels) - checkpoint_backend.predict(pixels)
    assert float(difference.abs().max()) <= 1e-6
    scene = tmp_path / "scene.tif"
    pixels_u8 = (np.random.default_rng(1).random((3, 80, 90)) * 255).astype(np.uint8)
    write_geotiff(scene, pixels_u8, Affine(0.21, 0, 445000.0, 0, -0.21, 5030000.0), "EPSG:32618")
    probabilities = []
    for model in (exported[0], safetensors_export):
        prob = tmp_path / f"{model.suffix[1:]}.tif"
        args = ["predict", str(scene), "--model", str(model), "--device", "cpu"]
        args += ["--out", str(tmp_path / f"{model.suffix[1:]}.geojson"), "--prob", str(prob)]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        with rasterio.open(prob) as src:
            probabilities.append(src.read(1))
    assert np.abs(probabilities[0] - probabilities[1]).max() <= 1e-6


def test_safetensors_bad_inputs(exported: tuple[Path, Path], tmp_path: Path) -> None:
    args = ["export", "--model", str(exported[0]), "--format", "safetensors"]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "m.onnx")])
    assert result.exit_code == 1 and ".safetensors" in result.output
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, foreign, metadata={"format": "pt"})
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"not safetensors")
    for path, message in ((foreign, "is not a roadkd export"), (corrupt, "cannot read model")):
        with pytest.raises(RoadkdError, match=message):
            load_backend(path, "cpu")
    mismatched = tmp_path / "mismatched.safetensors"
    with safe_open(exported[0].parent / "student.safetensors", framework="pt") as reader:
        metadata = reader.metadata()
    save_file({"w": torch.zeros(2)}, mismatched, metadata=metadata)
    with pytest.raises(RoadkdError, match="malformed roadkd model"):
        load_backend(mismatched, "cpu")


# -- ONNX files are checked before onnxruntime opens them ----------------------------------


def _predict_error(model: Path, tmp_path: Path) -> str:
    scene = tmp_path / "scene.tif"
    pixels = (np.random.default_rng(2).random((3, 40, 40)) * 255).astype(np.uint8)
    write_geotiff(scene, pixels, Affine(0.21, 0, 445000.0, 0, -0.21, 5030000.0), "EPSG:32618")
    out = tmp_path / "roads.geojson"
    result = CliRunner().invoke(
        cli, ["predict", str(scene), "--model", str(model), "--out", str(out)]
    )
    assert result.exit_code == 1 and not out.exists()
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    return lines[0]


def test_onnx_without_or_with_malformed_metadata_is_refused(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    graph = onnx.load(str(exported[1]))
    bare = tmp_path / "bare.onnx"
    del graph.metadata_props[:]
    onnx.save(graph, str(bare))
    assert "not a roadkd export (no 'roadkd_model' metadata)" in _predict_error(bare, tmp_path)
    for key, value in (
        ("standardization_mean", "[0.5]"),
        ("tile_size", '"big"'),
        ("resolution", "{"),
    ):
        graph = onnx.load(str(exported[1]))
        for entry in graph.metadata_props:
            if entry.key == key:
                entry.value = value
        malformed = tmp_path / f"malformed_{key}.onnx"
        onnx.save(graph, str(malformed))
        with pytest.raises(RoadkdError, match=r"not a roadkd export \(malformed metadata"):
            load_backend(malformed, "cpu")


def test_onnx_external_data_must_stay_in_the_model_folder(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    inside = tmp_path / "inside"
    inside.mkdir()
    graph = onnx.load(str(exported[1]))
    onnx.save_model(
        graph,
        str(inside / "model.onnx"),
        save_as_external_data=True,
        location="weights.bin",
        size_threshold=0,
    )
    pixels = torch.rand(1, 3, 64, 64) * 255
    np.testing.assert_allclose(
        load_backend(inside / "model.onnx", "cpu").predict(pixels).numpy(),
        load_backend(exported[1], "cpu").predict(pixels).numpy(),
        atol=1e-6,
    )
    outside = tmp_path / "outside"
    outside.mkdir()
    (inside / "weights.bin").rename(outside / "weights.bin")
    for location in ("../outside/weights.bin", str(outside / "weights.bin")):
        graph = onnx.load(str(inside / "model.onnx"), load_external_data=False)
        for tensor in graph.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = location
        onnx.save(graph, str(inside / "escape.onnx"))
        error = _predict_error(inside / "escape.onnx", tmp_path)
        assert "outside the model's folder" in error and location in error
