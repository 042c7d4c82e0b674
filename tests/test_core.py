"""Tests for the shared core: CLI entry point, atomic outputs, model factory, deploy bundle."""

import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from roadkd_cli.main import cli

from roadkd.errors import RoadkdError
from roadkd.io import atomic_output, require_file
from roadkd.models import (
    DeployBundle,
    ModelConfig,
    build_model,
    encoder_channels,
    forward_with_features,
    load_bundle,
    save_bundle,
)

TINY = ModelConfig(
    arch="Unet", encoder="resnet18", kwargs={"encoder_depth": 3, "decoder_channels": (16, 8, 8)}
)


def test_cli_help_lists_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("data", "train", "predict", "vectorize", "evaluate", "export"):
        assert name in result.output


def test_atomic_output_renames_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with atomic_output(target) as tmp:
        assert tmp.suffix == ".txt" and tmp.parent == tmp_path
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_output_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with pytest.raises(ValueError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise ValueError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_missing_folder(tmp_path: Path) -> None:
    with (
        pytest.raises(RoadkdError, match="does not exist"),
        atomic_output(tmp_path / "no" / "x.tif"),
    ):
        pass


def test_require_file(tmp_path: Path) -> None:
    with pytest.raises(RoadkdError, match="scene not found"):
        require_file(tmp_path / "missing.tif", "scene")
    with pytest.raises(RoadkdError, match="not a file"):
        require_file(tmp_path, "scene")


def test_forward_with_features_matches_forward() -> None:
    model = build_model(TINY).eval()
    x = torch.randn(2, 3, 64, 64)
    logits, (deepest,) = forward_with_features(model, x)
    torch.testing.assert_close(logits, model(x))
    assert logits.shape == (2, 2, 64, 64)
    channels = encoder_channels(model)
    assert deepest.shape[1] == channels[-1]
    assert deepest.shape[-1] == 64 // 8
    # Any stage can be tapped; each has the channels encoder_channels reports for it.
    _, taps = forward_with_features(model, x, layers=[1, -2, -1])
    assert [t.shape[1] for t in taps] == [channels[1], channels[-2], channels[-1]]
    assert taps[0].shape[-1] == 64 // 2


def test_build_model_unknown_encoder() -> None:
    with pytest.raises(RoadkdError, match="cannot build"):
        build_model(ModelConfig(encoder="no_such_encoder"))


def test_bundle_round_trip(tmp_path: Path) -> None:
    model = build_model(TINY).eval()
    bundle = DeployBundle(model=model, config=TINY, mean=(0.1, 0.2, 0.3), tile_size=256)
    save_bundle(bundle, tmp_path / "m.pt")
    loaded = load_bundle(tmp_path / "m.pt")
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(loaded.model(x), model(x))
    assert loaded.mean == (0.1, 0.2, 0.3) and loaded.tile_size == 256


def test_load_bundle_errors(tmp_path: Path) -> None:
    with pytest.raises(RoadkdError, match="model not found"):
        load_bundle(tmp_path / "none.ckpt")
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(RoadkdError, match="cannot read model"):
        load_bundle(corrupt)
    torch.save({"state_dict": {}}, tmp_path / "plain.ckpt")
    with pytest.raises(RoadkdError, match="holds no roadkd model"):
        load_bundle(tmp_path / "plain.ckpt")


@pytest.mark.parametrize(
    ("dataset", "what"), [("RoadImagery", "imagery"), ("RoadMask", "road labels")]
)
def test_layout_datasets_name_what_is_missing(tmp_path: Path, dataset: str, what: str) -> None:
    import roadkd.datasets

    with pytest.raises(RoadkdError, match=f"no {what} found in {tmp_path}"):
        getattr(roadkd.datasets, dataset)(tmp_path)


def test_gdal_defaults_never_override_the_user(monkeypatch: pytest.MonkeyPatch) -> None:
    from roadkd.io import GDAL_DEFAULTS, apply_gdal_defaults

    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    apply_gdal_defaults()
    assert os.environ["GDAL_CACHEMAX"] == GDAL_DEFAULTS["GDAL_CACHEMAX"]
    monkeypatch.setenv("GDAL_CACHEMAX", "2048")
    apply_gdal_defaults()
    assert os.environ["GDAL_CACHEMAX"] == "2048"
