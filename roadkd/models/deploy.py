"""The deploy bundle: a trained network with everything inference needs, and nothing else.

Every training task writes one into its Lightning checkpoints (under the key
``"roadkd_deploy"``), so inference, evaluation and export can rebuild the student from a
checkpoint without importing the training code. A bundle is also written on its own, as a
small PyTorch file or as ``.safetensors`` (weights that cannot carry code, the facts as
JSON in the file's header metadata under the same key).
"""

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from ..errors import RoadkdError, brief_reason
from ..imagery.scaling import BandPercentiles
from ..io import atomic_output, require_file
from ..normalization import DEFAULT_MEAN, DEFAULT_STD, ROADNET_RESOLUTION_M
from .checkpoint import read_checkpoint
from .config import ModelConfig
from .factory import build_model

#: Key of the deploy bundle inside a Lightning checkpoint and in safetensors metadata.
CHECKPOINT_KEY = "roadkd_deploy"
FORMAT_VERSION = 1
#: Key of the training imagery's input percentiles in ONNX metadata (JSON-encoded).
INPUT_PERCENTILES_KEY = "roadkd_input_percentiles"
#: Extension of the pickle-free deploy format.
SAFETENSORS_SUFFIX = ".safetensors"


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
        input_percentiles: per-band 2 and 98 percentiles of the training imagery in the
            network's 0-255 input units, what 16-bit and float scenes are stretched onto
            (None: not recorded, e.g. a bundle from before they were).
        extra: anything else worth keeping (the task's name, an exported threshold).
    """

    model: nn.Module
    config: ModelConfig
    mean: tuple[float, ...] = DEFAULT_MEAN
    std: tuple[float, ...] = DEFAULT_STD
    resolution_m: float = ROADNET_RESOLUTION_M
    class_names: tuple[str, ...] = ("background", "road")
    tile_size: int = 512
    input_percentiles: BandPercentiles | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        model: nn.Module,
        config: ModelConfig,
        data: "DataFacts",
        class_names: tuple[str, ...] = ("background", "road"),
        extra: dict[str, Any] | None = None,
    ) -> "DeployBundle":
        """A bundle of a network and the facts of the data it was trained on."""
        return cls(
            model=model,
            config=config,
            mean=data.mean,
            std=data.std,
            resolution_m=data.resolution_m,
            class_names=class_names,
            tile_size=data.tile_size,
            input_percentiles=data.input_percentiles,
            extra=dict(extra or {}),
        )

    @property
    def data(self) -> "DataFacts":
        """The facts of the training data, as inference and export read them.

        Raises:
            RoadkdError: for facts that cannot be true (see :class:`DataFacts`).
        """
        return DataFacts(
            self.mean, self.std, self.tile_size, self.resolution_m, self.input_percentiles
        )

    def facts(self) -> dict[str, Any]:
        """Return everything but the weights, as JSON-ready plain data."""
        return {
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "mean": list(self.mean),
            "std": list(self.std),
            "resolution_m": self.resolution_m,
            "class_names": list(self.class_names),
            "tile_size": self.tile_size,
            "input_percentiles": (
                None if self.input_percentiles is None else self.input_percentiles.to_dict()
            ),
            "extra": self.extra,
        }

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Return the network's weights, detached, on the CPU."""
        return {k: v.detach().cpu() for k, v in self.model.state_dict().items()}

    def to_checkpoint_entry(self) -> dict[str, Any]:
        """Return the plain-data form stored in a checkpoint."""
        return {**self.facts(), "state_dict": self.state_dict()}

    @classmethod
    def from_checkpoint_entry(cls, entry: dict[str, Any]) -> "DeployBundle":
        """Rebuild a bundle from :meth:`to_checkpoint_entry` output.

        Raises:
            RoadkdError, KeyError, TypeError, ValueError, RuntimeError: for a malformed
                entry (:func:`bundle_from_checkpoint` names the file).
        """
        config = ModelConfig(**{**entry["config"], "weights": None})
        percentiles = entry.get("input_percentiles")  # absent from older bundles
        facts = DataFacts(
            tuple(float(m) for m in entry["mean"]),
            tuple(float(s) for s in entry["std"]),
            int(entry["tile_size"]),
            float(entry["resolution_m"]),
            None if percentiles is None else BandPercentiles.from_dict(percentiles),
        )
        if len(facts.mean) != config.in_channels:
            raise ValueError(f"mean/std do not have one value per band ({config.in_channels})")
        model = build_model(config)
        model.load_state_dict(entry["state_dict"])
        model.eval()
        return cls.of(
            model, config, facts, tuple(entry["class_names"]), dict(entry.get("extra", {}))
        )


def save_bundle(bundle: DeployBundle, path: str | Path) -> None:
    """Write a bundle on its own, atomically: ``.safetensors`` or a small PyTorch file.

    Args:
        bundle: the network and its facts.
        path: output file; ``.safetensors`` writes the pickle-free format, anything else a
            ``torch.save`` file holding ``{"roadkd_deploy": entry}``.
    """
    with atomic_output(path) as tmp:
        if Path(path).suffix.lower() == SAFETENSORS_SUFFIX:
            state = {k: v.contiguous() for k, v in bundle.state_dict().items()}
            save_file(state, tmp, metadata={CHECKPOINT_KEY: json.dumps(bundle.facts())})
        else:
            torch.save({CHECKPOINT_KEY: bundle.to_checkpoint_entry()}, tmp)


def load_bundle(path: str | Path) -> DeployBundle:
    """Load the deployable network from a checkpoint, a saved bundle or a safetensors export.

    Nothing in the file runs: checkpoints are read by
    :func:`~roadkd.models.checkpoint.read_checkpoint`, safetensors hold only tensors.

    Args:
        path: a ``.ckpt`` written by any roadkd task, a file from :func:`save_bundle` or a
            ``.safetensors`` from ``roadkd export --format safetensors``.

    Returns:
        The bundle, with the model in eval mode on the CPU.

    Raises:
        RoadkdError: if the file is missing, unreadable, holds objects outside the
            allow-list or holds no roadkd model.
    """
    p = Path(path)
    if p.suffix.lower() == SAFETENSORS_SUFFIX:
        return bundle_from_checkpoint(_read_safetensors(p), p)
    return bundle_from_checkpoint(read_checkpoint(p, "model"), p)


def bundle_from_checkpoint(checkpoint: Mapping[str, Any], source: Path) -> DeployBundle:
    """Rebuild the deploy bundle of an already-read checkpoint.

    Args:
        checkpoint: the checkpoint's top-level dictionary.
        source: the file it came from, for messages.

    Returns:
        The bundle, with the model in eval mode on the CPU.

    Raises:
        RoadkdError: if the checkpoint holds no bundle or a malformed one.
    """
    if CHECKPOINT_KEY not in checkpoint:
        raise RoadkdError(
            f"{source} is a checkpoint but holds no roadkd model (no {CHECKPOINT_KEY!r})"
        )
    try:
        return DeployBundle.from_checkpoint_entry(checkpoint[CHECKPOINT_KEY])
    except (RoadkdError, KeyError, TypeError, ValueError, RuntimeError) as err:
        raise RoadkdError(f"{source} holds a malformed roadkd model ({brief_reason(err)})") from err


def _read_safetensors(path: Path) -> dict[str, Any]:
    """Read a safetensors bundle into the checkpoint form ``{"roadkd_deploy": entry}``."""
    p = require_file(path, "model")
    try:
        with safe_open(p, framework="pt", device="cpu") as reader:
            metadata = reader.metadata() or {}
            state = {key: reader.get_tensor(key) for key in reader.keys()}
    except (SafetensorError, OSError) as err:
        raise RoadkdError(
            f"cannot read model {p}: not a safetensors file ({brief_reason(err)})"
        ) from err
    if CHECKPOINT_KEY not in metadata:
        raise RoadkdError(f"{p} is not a roadkd export: no {CHECKPOINT_KEY!r} metadata")
    try:
        facts = json.loads(metadata[CHECKPOINT_KEY])
    except ValueError as err:
        raise RoadkdError(
            f"{p} is not a roadkd export: malformed metadata ({brief_reason(err)})"
        ) from err
    if not isinstance(facts, dict):
        raise RoadkdError(f"{p} is not a roadkd export: malformed metadata")
    return {CHECKPOINT_KEY: {**facts, "state_dict": state}}


# -- what training data tells a bundle ---------------------------------------------------------


@dataclass(frozen=True)
class DataFacts:
    """What every deploy bundle records about the data its network was trained on.

    Attributes:
        mean: per-band mean applied after dividing pixels by 255.
        std: per-band std applied after dividing pixels by 255.
        tile_size: side of the training patches in pixels.
        resolution_m: ground sampling distance of the training imagery, metres per pixel.
        input_percentiles: per-band 2 and 98 percentiles of the training imagery, in the
            network's input units (pixels before /255 and mean/std); None when unknown.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    tile_size: int
    resolution_m: float
    input_percentiles: BandPercentiles | None = None

    def __post_init__(self) -> None:
        """Refuse facts that cannot be true.

        Raises:
            RoadkdError: for mismatched mean/std, a non-positive std, tile or resolution,
                percentiles of another band count.
        """
        if not self.mean or len(self.mean) != len(self.std):
            raise RoadkdError(f"mean {self.mean} and std {self.std} need one value per band")
        if min(self.std) <= 0:
            raise RoadkdError(f"std must be positive, got {self.std}")
        if self.tile_size <= 0:
            raise RoadkdError(f"tile size must be positive, got {self.tile_size}")
        if not math.isfinite(self.resolution_m) or self.resolution_m <= 0:
            raise RoadkdError(f"resolution must be a positive number, got {self.resolution_m}")
        if self.input_percentiles is not None and len(self.input_percentiles.low) != len(self.mean):
            raise RoadkdError(
                f"input percentiles {self.input_percentiles.ranges()} need one range per band"
            )


class DataFactsView:
    """A backend's training-data facts by name (``backend.tile_size``), read from ``data``."""

    data: DataFacts

    @property
    def tile_size(self) -> int:
        """Side of the training patches in pixels: the default tile."""
        return self.data.tile_size

    @property
    def resolution_m(self) -> float:
        """Metres per pixel of the training imagery."""
        return self.data.resolution_m

    @property
    def mean(self) -> tuple[float, ...]:
        """Per-band mean applied after dividing pixels by 255."""
        return self.data.mean

    @property
    def std(self) -> tuple[float, ...]:
        """Per-band std applied after dividing pixels by 255."""
        return self.data.std

    @property
    def input_percentiles(self) -> BandPercentiles | None:
        """The training imagery's 2 and 98 percentiles (None: not recorded)."""
        return self.data.input_percentiles


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
            f"tile size, resolution, input percentiles) with data_facts(); {name} does not"
        )
    return datamodule.data_facts()
