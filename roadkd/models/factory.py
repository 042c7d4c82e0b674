"""Build any segmentation-models-pytorch architecture/encoder pair and tap its features."""

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import segmentation_models_pytorch as smp
from torch import Tensor, nn

from ..errors import RoadkdError


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a network without its training code.

    Attributes:
        arch: smp architecture name (e.g. "DeepLabV3Plus", "Segformer", "Unet").
        encoder: smp encoder name (e.g. "resnet50", "mit_b2", "mobilenet_v2").
        in_channels: number of input bands.
        classes: number of output classes (2: background, road).
        weights: None to train from scratch, an smp weights name (e.g. "imagenet", needs
            network access) or a path to a ``.pt``/``.pth`` state dict of the encoder.
        kwargs: extra keyword arguments for the smp constructor (e.g. decoder_channels).
    """

    arch: str = "DeepLabV3Plus"
    encoder: str = "mobilenet_v2"
    in_channels: int = 3
    classes: int = 2
    weights: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict (for checkpoints and JSON)."""
        return asdict(self)


def as_model_config(config: ModelConfig | Mapping[str, Any]) -> ModelConfig:
    """Return ``config`` as a :class:`ModelConfig` (configs and checkpoints may hold dicts).

    Args:
        config: a ModelConfig or a mapping of its fields.

    Returns:
        The ModelConfig.

    Raises:
        RoadkdError: if the mapping has unknown fields.
    """
    if isinstance(config, ModelConfig):
        return config
    try:
        return ModelConfig(**dict(config))
    except (TypeError, ValueError) as err:  # unknown fields, or not a mapping at all
        raise RoadkdError(f"invalid model config {config!r}: {err}") from err


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
        # Imported here: the checkpoint reader's allow-list names ModelConfig.
        from .checkpoint import brief_reason, read_checkpoint

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
