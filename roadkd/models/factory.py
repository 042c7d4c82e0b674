"""Build any segmentation-models-pytorch architecture/encoder pair and tap its features."""

from collections.abc import Sequence
from pathlib import Path

import segmentation_models_pytorch as smp
from torch import Tensor, nn

from ..errors import RoadkdError, brief_reason
from .checkpoint import read_checkpoint
from .config import ModelConfig


def build_model(config: ModelConfig) -> nn.Module:
    """Build a segmentation network from its config.

    Args:
        config: architecture, encoder, bands, classes and weights.

    Returns:
        An smp model mapping (B, C, H, W) to logits (B, classes, H, W).

    Raises:
        RoadkdError: if the architecture or encoder is unknown or the weights file is missing.
    """
    path_weights = config.weights is not None and (
        Path(config.weights).suffix in {".pt", ".pth", ".ckpt"} or Path(config.weights).exists()
    )
    try:
        model: nn.Module = smp.create_model(
            config.arch,
            encoder_name=config.encoder,
            encoder_weights=None if path_weights else config.weights,
            in_channels=config.in_channels,
            classes=config.classes,
            **config.kwargs,
        )
    except (KeyError, ValueError) as err:
        raise RoadkdError(
            f"cannot build {config.arch} with encoder {config.encoder}: {err}"
        ) from err
    if path_weights:
        assert config.weights is not None
        state = read_checkpoint(config.weights, "encoder weights")
        try:
            model.encoder.load_state_dict(state.get("state_dict", state))  # type: ignore[union-attr]
        except RuntimeError as err:
            raise RoadkdError(
                f"encoder weights {config.weights} do not fit {config.encoder}"
                f" ({brief_reason(err)})"
            ) from err
    return model


def encoder_channels(model: nn.Module) -> list[int]:
    """Return the channel count of every encoder feature map, shallowest first.

    Args:
        model: an smp model.

    Returns:
        Channels per encoder stage, indexed like :func:`forward_with_features`' layers.
    """
    channels: list[int] = model.encoder.out_channels  # type: ignore[union-attr,assignment]
    return [int(c) for c in channels]


def forward_with_features(
    model: nn.Module, x: Tensor, layers: Sequence[int] = (-1,)
) -> tuple[Tensor, list[Tensor]]:
    """Run an smp model once and return its logits and the chosen encoder feature maps.

    One pass through the encoder serves both outputs, so distillation costs no extra
    forward pass.

    Args:
        model: an smp model (encoder, decoder, segmentation_head).
        x: input batch (B, C, H, W).
        layers: indices into the encoder's feature list (-1: the deepest).

    Returns:
        ``(logits, [features[i] for i in layers])``: logits (B, classes, H, W) and each
        chosen feature map (B, C_i, H / stride_i, W / stride_i).
    """
    features = model.encoder(x)  # type: ignore[operator]
    logits: Tensor = model.segmentation_head(model.decoder(features))  # type: ignore[operator]
    return logits, [features[i] for i in layers]
