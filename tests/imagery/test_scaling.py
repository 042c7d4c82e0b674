"""16-bit and float scenes reach the network as the training imagery did.

A model records its training imagery's per-band 2 and 98 percentiles (in the 0-255 units
the network sees); a non-uint8 scene's own percentiles are stretched onto them. The facts
travel with the model through checkpoints, safetensors and ONNX metadata.
"""

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
import rasterio
import torch
from affine import Affine

from roadkd.datamodules.roads import RoadDataModule
from roadkd.datasets.layout import write_scene, write_splits
from roadkd.errors import RoadkdError
from roadkd.export import export_onnx, export_safetensors
from roadkd.imagery import BandPercentiles, ReadOptions, SceneReader, band_percentiles
from roadkd.inference import check_scene, load_backend
from roadkd.models import DeployBundle, ModelConfig, build_model, load_bundle, save_bundle
from roadkd.models.deploy import CHECKPOINT_KEY, INPUT_PERCENTILES_KEY

UTM = "EPSG:32618"
TRANSFORM = Affine(0.21, 0, 445000.0, 0, -0.21, 5030000.0)
RECORDED = BandPercentiles((12.0, 20.5, 30.0), (200.0, 180.0, 222.25))


def scene_pixels(size: int = 96, seed: int = 0) -> np.ndarray:
    """(3, size, size) uint8: a dark textured ground crossed by a bright road."""
    rng = np.random.default_rng(seed)
    ground = rng.normal(70, 12, (3, size, size))
    ground[:, size // 3 : size // 3 + 12] += 120  # a road across the scene
    ground *= np.array([1.0, 0.85, 0.7])[:, None, None]  # each band its own range
    return np.clip(ground, 0, 255).round().astype(np.uint8)


def write(path: Path, pixels: np.ndarray) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=pixels.shape[2],
        height=pixels.shape[1],
        count=pixels.shape[0],
        dtype=pixels.dtype.name,
        crs=UTM,
        transform=TRANSFORM,
    ) as dst:
        dst.write(pixels)
    return path


def model_input(
    path: Path, recorded: BandPercentiles | None, options: ReadOptions | None = None
) -> tuple[np.ndarray, str]:
    lines: list[str] = []
    with SceneReader(path, 3, 0.21, options, lines.append, training_percentiles=recorded) as r:
        pixels, valid = r.read(rasterio.windows.Window(0, 0, r.width, r.height))
    assert valid.all()
    return pixels, lines[0]


@pytest.fixture
def bundle(shallow_config: ModelConfig) -> Callable[[BandPercentiles | None], DeployBundle]:
    """``bundle(percentiles)``: the shallow network (seed 0) with those percentiles recorded."""

    def make(percentiles: BandPercentiles | None) -> DeployBundle:
        torch.manual_seed(0)
        model = build_model(shallow_config).eval()
        return DeployBundle(
            model=model, config=shallow_config, tile_size=64, input_percentiles=percentiles
        )

    return make


# -- the stretch -----------------------------------------------------------------------------


def test_16_bit_and_float_copies_reach_the_model_as_the_uint8_original(tmp_path: Path) -> None:
    image = scene_pixels()
    original = write(tmp_path / "u8.tif", image)
    with rasterio.open(original) as src:
        recorded = band_percentiles(src, (1, 2, 3))  # a model trained on this very scene
    copies = {
        "uint16": image.astype(np.uint16) * 16,
        "float32": image.astype(np.float32) / 255,
        "int16": image.astype(np.int16) * 16 - 1000,
    }
    raw, line = model_input(original, recorded)
    np.testing.assert_array_equal(raw, image)  # uint8 stays as it is
    assert "uint8 used as is" in line
    for dtype, pixels in copies.items():
        stretched, line = model_input(write(tmp_path / f"{dtype}.tif", pixels), recorded)
        np.testing.assert_allclose(stretched, image, atol=1e-3, err_msg=dtype)
        assert f"{dtype} 2-98 % " in line
        assert f"-> {recorded.ranges()} (per band, onto the training data's recorded" in line


def test_the_scene_percentiles_land_on_the_recorded_ones(tmp_path: Path) -> None:
    # A uint16 ramp: its percentiles and every pixel's image under the map are known.
    ramp = np.arange(3 * 100 * 100, dtype=np.uint16).reshape(3, 100, 100)
    scene = write(tmp_path / "ramp.tif", ramp)
    pixels, _ = model_input(scene, RECORDED)
    for band in range(3):
        values = ramp[band].astype(np.float64)
        low, high = np.percentile(values, (2, 98))
        target_low, target_high = RECORDED.low[band], RECORDED.high[band]
        expected = target_low + (values - low) * (target_high - target_low) / (high - low)
        np.testing.assert_allclose(pixels[band], np.clip(expected, 0, 255), atol=1e-3)
        # the 2 % pixel lands on the recorded 2 %, the 98 % pixel on the recorded 98 %
        assert np.percentile(pixels[band], 2) == pytest.approx(target_low, abs=1e-3)
        assert np.percentile(pixels[band], 98) == pytest.approx(target_high, abs=1e-3)


def test_scale_keeps_its_meaning_whatever_the_model_records(tmp_path: Path) -> None:
    image = scene_pixels()
    scene = write(tmp_path / "u16.tif", image.astype(np.uint16) * 16)
    pixels, line = model_input(scene, RECORDED, ReadOptions(scale=(0, 4080)))
    np.testing.assert_allclose(pixels, image, atol=1e-3)
    assert "uint16 0-4080, 0-4080, 0-4080 -> 0-255 (--scale)" in line


def test_a_model_without_recorded_percentiles_stretches_to_0_255_and_says_so(
    tmp_path: Path,
    bundle: Callable[[BandPercentiles | None], DeployBundle],
) -> None:
    # An older bundle: its checkpoint entry has no input_percentiles key at all.
    entry = bundle(None).to_checkpoint_entry()
    del entry["input_percentiles"]
    old = tmp_path / "old.pt"
    torch.save({CHECKPOINT_KEY: entry}, old)
    backend = load_backend(old, "cpu")
    assert backend.input_percentiles is None
    image = scene_pixels()
    scene = write(tmp_path / "u16.tif", image.astype(np.uint16) * 16)
    lines: list[str] = []
    plan = check_scene(scene, backend, log=lines.append)
    assert "-> 0-255 (per band; no training range recorded)" in lines[0]
    low, high = np.percentile(image.reshape(3, -1) * 16.0, (2, 98), axis=1)
    np.testing.assert_allclose(plan.low, low)
    np.testing.assert_allclose(plan.high, high)
    # the same scene with a model that records them is stretched onto them
    recorded = tmp_path / "new.pt"
    save_bundle(bundle(RECORDED), recorded)
    lines.clear()
    check_scene(scene, load_backend(recorded, "cpu"), log=lines.append)
    assert f"-> {RECORDED.ranges()} (per band, onto the training data's recorded" in lines[0]


def test_percentiles_that_cannot_be_true_are_refused() -> None:
    with pytest.raises(RoadkdError, match="finite low < high"):
        BandPercentiles((10.0,), (10.0,))
    with pytest.raises(RoadkdError, match="one value per band"):
        BandPercentiles((10.0, 1.0), (20.0,))
    with pytest.raises(ValueError, match="are not"):
        BandPercentiles.from_dict({"percentiles": [1, 99], "low": [0], "high": [1]})


# -- carried with the model ------------------------------------------------------------------


def test_percentiles_round_trip_through_checkpoint_safetensors_and_onnx(
    tmp_path: Path,
    bundle: Callable[[BandPercentiles | None], DeployBundle],
) -> None:
    checkpoint = tmp_path / "student.pt"
    save_bundle(bundle(RECORDED), checkpoint)
    assert load_bundle(checkpoint).input_percentiles == RECORDED
    safetensors = export_safetensors(checkpoint, tmp_path / "student.safetensors")
    assert load_bundle(safetensors).input_percentiles == RECORDED
    onnx_path = export_onnx(checkpoint, tmp_path / "student.onnx")
    metadata = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert json.loads(metadata[INPUT_PERCENTILES_KEY]) == RECORDED.to_dict()
    assert load_backend(onnx_path, "cpu").input_percentiles == RECORDED
    # an export of a model without them writes none, and reads back None
    old = tmp_path / "old.pt"
    save_bundle(bundle(None), old)
    old_onnx = export_onnx(old, tmp_path / "old.onnx")
    assert INPUT_PERCENTILES_KEY not in {p.key for p in onnx.load(str(old_onnx)).metadata_props}
    assert load_backend(old_onnx, "cpu").input_percentiles is None
    assert (
        load_bundle(export_safetensors(old, tmp_path / "old.safetensors")).input_percentiles is None
    )


def test_malformed_recorded_percentiles_are_a_malformed_model(
    tmp_path: Path,
    bundle: Callable[[BandPercentiles | None], DeployBundle],
) -> None:
    entry = bundle(RECORDED).to_checkpoint_entry()
    entry["input_percentiles"] = {"percentiles": [2, 98], "low": [1, 2], "high": [3, 4]}
    broken = tmp_path / "broken.pt"
    torch.save({CHECKPOINT_KEY: entry}, broken)
    with pytest.raises(RoadkdError, match="malformed roadkd model"):
        load_bundle(broken)


# -- measured by the datamodule --------------------------------------------------------------


def test_datamodule_records_the_pooled_percentiles_of_its_training_imagery(
    tmp_path: Path,
) -> None:
    masks = dict.fromkeys(("surface", "edge", "centerline"), np.zeros((64, 64), np.uint8))
    scenes = {
        "a": scene_pixels(64, seed=1),
        "b": (scene_pixels(64, seed=2) // 2 + 60).astype(np.uint8),
        "u": (255 - scene_pixels(64, seed=3)).astype(np.uint8),  # imagery only
        "v": np.full((3, 64, 64), 250, np.uint8),  # validation: not training imagery
    }
    for i, (name, image) in enumerate(scenes.items()):
        transform = Affine(0.21, 0, 445000.0 + 20 * i, 0, -0.21, 5030000.0)
        write_scene(tmp_path, name, image, {} if name == "u" else masks, transform, UTM)
    write_splits(tmp_path, {"train": ["a", "b"], "unlabeled": ["u"], "val": ["v"]})
    facts = RoadDataModule(tmp_path, patch_size=32).data_facts()
    pooled = np.concatenate([scenes[s].reshape(3, -1) for s in ("a", "b", "u")], axis=1)
    low, high = np.percentile(pooled.astype(np.float64), (2, 98), axis=1)
    assert facts.input_percentiles is not None
    np.testing.assert_allclose(facts.input_percentiles.low, low)
    np.testing.assert_allclose(facts.input_percentiles.high, high)
