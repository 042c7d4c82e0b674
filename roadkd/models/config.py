"""How to rebuild a network: the one record a checkpoint, a bundle and a config share."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

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
