"""Export (ONNX with Deepness metadata, safetensors) and prediction from the exports.

ONNX and safetensors files are checked before use: roadkd metadata present and well-formed,
no external data outside the model's folder.
"""

import json
import tempfile
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


def test_onnx_matches_pytorch_at_any_batch_and_tile_size(exported: tuple[Path, Path]) -> None:
    checkpoint, onnx_path = exported
    torch_backend = load_backend(checkpoint, "cpu")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    for batch, tile in ((1, 64), (3, 64), (2, 96)):
        pixels = torch.rand(batch, 3, tile, tile) * 255
        (out,) = session.run(
            None, {"image": normalize(pixels, torch_backend.mean, torch_backend.std).numpy()}
        )
        assert out.shape == (batch, 1, tile, tile)
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
    onnx_backend = load_backend(exported[1], "cpu", threads=1)
    torch_backend = load_backend(exported[0], "cpu")
    assert onnx_backend.tile_size == 64 and onnx_backend.in_channels == 3
    assert onnx_backend.describe() == "ONNX Runtime, float32, CPU, 1 thread"
    assert onnx_backend.session.get_session_options().intra_op_num_threads == 1
    assert torch_backend.describe().startswith("PyTorch, float32, CPU")
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
    # Other tools' keys (e.g. onnxruntime's quantiser's) need not be JSON: they are not read.
    graph = onnx.load(str(exported[1]))
    entry = graph.metadata_props.add()
    entry.key, entry.value = "onnx.quant.pre_process", "onnxruntime.quant"
    annotated = tmp_path / "annotated.onnx"
    onnx.save(graph, str(annotated))
    assert load_backend(annotated, "cpu").tile_size == 64


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


# -- what an ONNX model takes is checked against the tile and data before any work ---------


def _scene(tmp_path: Path, size: int = 150) -> Path:
    scene = tmp_path / "scene.tif"
    pixels = (np.random.default_rng(3).random((3, size, size)) * 255).astype(np.uint8)
    write_geotiff(scene, pixels, Affine(0.21, 0, 445000.0, 0, -0.21, 5030000.0), "EPSG:32618")
    return scene


def _predict(model: Path, tmp_path: Path, *options: str) -> tuple[int, str, Path]:
    """Run predict into a folder of its own; a failed run must leave it empty."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    out, prob = folder / "roads.geojson", folder / "prob.tif"
    args = ["predict", str(_scene(tmp_path)), "--model", str(model), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--prob", str(prob), "--device", "cpu", *options])
    if result.exit_code != 0:
        assert not any(folder.iterdir())
    return result.exit_code, result.output.strip(), prob


def _with_shape(
    source: Path, out: Path, image: tuple[int | None, ...], output: tuple[int | None, ...]
) -> Path:
    """A copy of an export whose input and output declare other shapes (None: symbolic)."""
    graph = onnx.load(str(source))
    for tensor, shape in ((graph.graph.input[0], image), (graph.graph.output[0], output)):
        dims = tensor.type.tensor_type.shape.dim
        del dims[:]
        for size in shape:
            dims.add().dim_param = "n" if size is None else ""
            if size is not None:
                dims[-1].dim_value = size
    onnx.save(graph, str(out))
    return out


def test_onnx_model_predicts_at_the_tile_asked_for(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    """The export takes any tile size: --tile 128 on a model trained on 64 px tiles."""
    probabilities = {}
    for model, tile in ((exported[0], "64"), (exported[1], "64"), (exported[1], "128")):
        code, output, prob = _predict(model, tmp_path, "--tile", tile)
        assert code == 0, output
        with rasterio.open(prob) as src:
            probabilities[model.suffix, tile] = src.read(1)
    same_tiles = probabilities[".pt", "64"] - probabilities[".onnx", "64"]
    assert np.nanmax(np.abs(same_tiles)) <= 1e-4
    assert probabilities[".onnx", "128"].shape == probabilities[".onnx", "64"].shape


def test_onnx_fixed_to_one_tile_size_is_refused_at_other_tiles_up_front(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    """An older export or a foreign model with roadkd's metadata, fixed to (1, 3, 64, 64)."""
    fixed = _with_shape(exported[1], tmp_path / "fixed.onnx", (1, 3, 64, 64), (1, 1, 64, 64))
    code, output, _ = _predict(fixed, tmp_path, "--tile", "128")
    assert code == 1 and output.splitlines() == [
        f"Error: {fixed} takes only 64x64 px tiles, not 128x128: use --tile 64, or export the "
        "model again with roadkd export (any tile size)"
    ]
    # at its own tile it runs, batches of 4 tiles fed one at a time to its batch of 1
    code, output, prob = _predict(fixed, tmp_path, "--batch-size", "4")
    assert code == 0, output
    code, output, reference = _predict(exported[1], tmp_path)
    with rasterio.open(prob) as fixed_src, rasterio.open(reference) as reference_src:
        assert np.nanmax(np.abs(fixed_src.read(1) - reference_src.read(1))) <= 1e-5


@pytest.mark.parametrize(
    ("image", "output", "message"),
    [
        ((None, 64, 64, 3), (None, 1, 64, 64), "takes channels-last (N, H, W, C) input"),
        ((None, 4, None, None), (None, 1, None, None), "takes 4 bands but its metadata says 3"),
        ((None, 3, None), (None, 1, None, None), "takes a 3-d input"),
        ((1, 3, 64, 96), (1, 1, 64, 96), "takes only 96x64 px tiles; roadkd's tiles are square"),
        ((None, 3, None, None), (None, 2, None, None), "does not give one road probability"),
    ],
)
def test_onnx_input_roadkd_cannot_feed_is_refused(
    exported: tuple[Path, Path],
    tmp_path: Path,
    image: tuple[int | None, ...],
    output: tuple[int | None, ...],
    message: str,
) -> None:
    model = _with_shape(exported[1], tmp_path / "foreign.onnx", image, output)
    code, text, _ = _predict(model, tmp_path)
    assert code == 1 and len(text.splitlines()) == 1 and message in text, text


def test_onnx_input_type_and_count_are_checked(exported: tuple[Path, Path], tmp_path: Path) -> None:
    graph = onnx.load(str(exported[1]))
    graph.graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.FLOAT16
    onnx.save(graph, str(tmp_path / "half.onnx"))
    with pytest.raises(RoadkdError, match="takes a float16 input; roadkd feeds one float32"):
        load_backend(tmp_path / "half.onnx", "cpu")
    graph = onnx.load(str(exported[1]))
    graph.graph.input.append(
        onnx.helper.make_tensor_value_info("mask", onnx.TensorProto.FLOAT, [None, 1, None, None])
    )
    onnx.save(graph, str(tmp_path / "two.onnx"))
    with pytest.raises(RoadkdError, match="takes 2 inputs; roadkd feeds one"):
        load_backend(tmp_path / "two.onnx", "cpu")


def _foreign_graph(
    exported: Path, out: Path, node: onnx.NodeProto, *constants: onnx.TensorProto
) -> Path:
    """A hand-made graph (mean of the bands, then ``node``) carrying the export's metadata."""
    helper = onnx.helper
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1], keepdims=1), node],
        "foreign",
        [helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info(node.output[0], onnx.TensorProto.FLOAT, None)],
        list(constants),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.metadata_props.extend(onnx.load(str(exported)).metadata_props)
    onnx.save(model, str(out))
    return out


def test_foreign_graph_is_run_once_before_any_work(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    """What the declared shapes hide shows when one tile runs: refused before any work."""
    make = onnx.helper.make_node
    works = _foreign_graph(exported[1], tmp_path / "works.onnx", make("Sigmoid", ["mean"], ["p"]))
    assert _predict(works, tmp_path)[0] == 0
    logits = _foreign_graph(exported[1], tmp_path / "logits.onnx", make("Neg", ["mean"], ["p"]))
    code, text, _ = _predict(logits, tmp_path)
    assert code == 1 and "does not give a road probability in [0, 1] per pixel" in text
    side = onnx.helper.make_tensor("side", onnx.TensorProto.INT64, [4], [1, 1, 64, 64])
    reshaped = _foreign_graph(
        exported[1], tmp_path / "reshaped.onnx", make("Reshape", ["mean", "side"], ["p"]), side
    )
    code, text, _ = _predict(reshaped, tmp_path, "--tile", "128")
    assert code == 1 and len(text.splitlines()) == 1
    assert f"model {reshaped} cannot run a (1, 3, 128, 128) batch" in text
