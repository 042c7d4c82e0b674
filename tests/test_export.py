"""ONNX export with Deepness metadata, and prediction through onnxruntime."""

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner
from roadkd_cli.main import cli

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
