"""Networks built from a ModelConfig, and their feature taps."""

import pytest
import torch

from roadkd.errors import RoadkdError
from roadkd.models import (
    ModelConfig,
    build_model,
    encoder_channels,
    forward_with_features,
)

TINY = ModelConfig(
    arch="Unet", encoder="resnet18", kwargs={"encoder_depth": 3, "decoder_channels": (16, 8, 8)}
)


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
