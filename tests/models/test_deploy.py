"""Deploy bundles saved and loaded."""

from pathlib import Path

import pytest
import torch

from roadkd.errors import RoadkdError
from roadkd.models import (
    DeployBundle,
    ModelConfig,
    build_model,
    load_bundle,
    save_bundle,
)

TINY = ModelConfig(
    arch="Unet", encoder="resnet18", kwargs={"encoder_depth": 3, "decoder_channels": (16, 8, 8)}
)


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
