"""The deploy bundle: a trained network with everything inference needs, and nothing else.

Every training task writes one into its Lightning checkpoints (under the key
``"roadkd_deploy"``), so inference, evaluation and export can rebuild the student from a
checkpoint without importing the training code.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from ..errors import RoadkdError
from ..normalization import DEFAULT_MEAN, DEFAULT_STD, ROADNET_RESOLUTION_M
from .factory import ModelConfig, build_model

#: Key of the deploy bundle inside a Lightning checkpoint.
CHECKPOINT_KEY = "roadkd_deploy"
FORMAT_VERSION = 1


@dataclass
class DeployBundle:
    """A network ready for inference.

    Attributes:
        model: the network, mapping normalised (B, C, H, W) to logits (B, classes, H, W).
        config: how to rebuild the network.
        mean: per-band mean applied after dividing pixels by 255.
        std: per-band std applied after dividing pixels by 255.
        resolution_m: ground sampling distance the model was trained at, metres per pixel.
        class_names: one name per output class; the last is "road".
        tile_size: tile size used in training, a sensible default for inference.
    """

    model: nn.Module
    config: ModelConfig
    mean: tuple[float, ...] = DEFAULT_MEAN
    std: tuple[float, ...] = DEFAULT_STD
    resolution_m: float = ROADNET_RESOLUTION_M
    class_names: tuple[str, ...] = ("background", "road")
    tile_size: int = 512
    extra: dict[str, Any] = field(default_factory=dict)

    def to_checkpoint_entry(self) -> dict[str, Any]:
        """Return the plain-data form stored in a checkpoint."""
        return {
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "mean": list(self.mean),
            "std": list(self.std),
            "resolution_m": self.resolution_m,
            "class_names": list(self.class_names),
            "tile_size": self.tile_size,
            "extra": self.extra,
        }

    @classmethod
    def from_checkpoint_entry(cls, entry: dict[str, Any]) -> "DeployBundle":
        """Rebuild a bundle from :meth:`to_checkpoint_entry` output."""
        config = ModelConfig(**{**entry["config"], "weights": None})
        model = build_model(config)
        model.load_state_dict(entry["state_dict"])
        model.eval()
        return cls(
            model=model,
            config=config,
            mean=tuple(entry["mean"]),
            std=tuple(entry["std"]),
            resolution_m=float(entry["resolution_m"]),
            class_names=tuple(entry["class_names"]),
            tile_size=int(entry["tile_size"]),
            extra=dict(entry.get("extra", {})),
        )


def save_bundle(bundle: DeployBundle, path: str | Path) -> None:
    """Write a bundle on its own (a small file holding only the deployable network)."""
    torch.save({CHECKPOINT_KEY: bundle.to_checkpoint_entry()}, path)


def load_bundle(path: str | Path) -> DeployBundle:
    """Load the deployable network from a Lightning checkpoint or a saved bundle.

    Args:
        path: a ``.ckpt`` written by any roadkd task, or a file from :func:`save_bundle`.

    Returns:
        The bundle, with the model in eval mode on the CPU.

    Raises:
        RoadkdError: if the file is missing, unreadable or holds no roadkd model.
    """
    p = Path(path)
    if not p.is_file():
        raise RoadkdError(f"model not found: {p}")
    try:
        checkpoint = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types for a corrupt file
        raise RoadkdError(f"cannot read model {p}: not a PyTorch checkpoint ({err})") from err
    if not isinstance(checkpoint, dict) or CHECKPOINT_KEY not in checkpoint:
        raise RoadkdError(f"{p} is a checkpoint but holds no roadkd model (no {CHECKPOINT_KEY!r})")
    return DeployBundle.from_checkpoint_entry(checkpoint[CHECKPOINT_KEY])


# -- what training data tells a bundle ---------------------------------------------------------


@dataclass(frozen=True)
class DataFacts:
    """What every deploy bundle records about the data its network was trained on.

    Attributes:
        mean: per-band mean applied after dividing pixels by 255.
        std: per-band std applied after dividing pixels by 255.
        tile_size: side of the training patches in pixels.
        resolution_m: ground sampling distance of the training imagery, metres per pixel.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    tile_size: int
    resolution_m: float

    def __post_init__(self) -> None:
        """Refuse facts that cannot be true.

        Raises:
            RoadkdError: for mismatched mean/std, a non-positive std, tile or resolution.
        """
        if not self.mean or len(self.mean) != len(self.std):
            raise RoadkdError(f"mean {self.mean} and std {self.std} need one value per band")
        if min(self.std) <= 0:
            raise RoadkdError(f"std must be positive, got {self.std}")
        if self.tile_size <= 0:
            raise RoadkdError(f"tile size must be positive, got {self.tile_size}")
        if not math.isfinite(self.resolution_m) or self.resolution_m <= 0:
            raise RoadkdError(f"resolution must be a positive number, got {self.resolution_m}")


@runtime_checkable
class DescribesTrainingData(Protocol):
    """A datamodule that states the facts a deploy bundle records (see :class:`DataFacts`)."""

    def data_facts(self) -> DataFacts:
        """Return the facts; raise RoadkdError if one cannot be known."""
        ...


def require_data_facts(datamodule: object) -> DataFacts:
    """Ask a datamodule for its :class:`DataFacts`; training calls this when it starts.

    Args:
        datamodule: the trainer's datamodule (None when dataloaders were passed directly).

    Returns:
        The facts.

    Raises:
        RoadkdError: if the datamodule does not state them (or cannot know one).
    """
    if not isinstance(datamodule, DescribesTrainingData):
        name = type(datamodule).__name__
        raise RoadkdError(
            f"roadkd tasks train from a datamodule that states its data facts (mean, std, "
            f"tile size, resolution) with data_facts(); {name} does not"
        )
    return datamodule.data_facts()
