"""How every roadkd task is optimised: one settings value, the optimiser and its schedule."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from torch import nn
from torch.optim import SGD, AdamW, Optimizer
from torch.optim.lr_scheduler import LambdaLR

from ..errors import RoadkdError


@dataclass(frozen=True)
class Optimization:
    """The optimiser settings every task shares (``model.init_args.optim`` in a config).

    The defaults are the authors' public recipe: SGD with momentum, 10x less learning rate
    for the encoders, weight decay and a per-step poly schedule.

    Attributes:
        optimizer: "sgd" (momentum, as the authors) or "adamw".
        lr: learning rate of decoders, heads and adapters.
        backbone_lr: learning rate of the encoders (None: same as ``lr``); the authors use
            10x less for backbones.
        momentum: SGD momentum.
        weight_decay: weight decay of both optimisers.
        poly_power: exponent of the per-step poly schedule.
        max_iterations: steps over which the poly schedule decays to 0 (None: the trainer's
            estimated number of steps).
    """

    optimizer: str = "sgd"
    lr: float = 0.01
    backbone_lr: float | None = 0.001
    momentum: float = 0.9
    weight_decay: float = 1e-4
    poly_power: float = 0.9
    max_iterations: int | None = None

    @classmethod
    def of(cls, value: "Optimization | Mapping[str, Any]") -> "Optimization":
        """The settings from themselves or a mapping of their fields (checkpoints hold dicts).

        Raises:
            RoadkdError: for unknown fields.
        """
        if isinstance(value, Optimization):
            return value
        unknown = set(value) - {f.name for f in fields(cls)}
        if unknown:
            raise RoadkdError(f"unknown optimisation settings {sorted(unknown)}")
        return cls(**dict(value))

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as stored in checkpoints' hyperparameters."""
        return asdict(self)

    def build(
        self, backbone: list[nn.Parameter], heads: list[nn.Parameter], total_steps: int
    ) -> tuple[Optimizer, LambdaLR]:
        """The optimiser over two parameter groups and its poly schedule.

        Args:
            backbone: encoder parameters (``backbone_lr``).
            heads: decoder, head and adapter parameters (``lr``).
            total_steps: steps over which the schedule decays to 0 (``max_iterations``, or
                the trainer's estimate; 0: a constant learning rate).

        Returns:
            The optimiser and its per-step scheduler.

        Raises:
            RoadkdError: for an unknown optimiser name.
        """
        groups = [
            {"params": heads, "lr": self.lr},
            {"params": backbone, "lr": self.backbone_lr or self.lr},
        ]
        groups = [g for g in groups if g["params"]]
        name = self.optimizer.lower()
        optimizer: Optimizer
        if name == "sgd":
            optimizer = SGD(
                groups, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay
            )
        elif name == "adamw":
            optimizer = AdamW(groups, lr=self.lr, weight_decay=self.weight_decay)
        else:
            raise RoadkdError(f"unknown optimizer {name!r}: use 'sgd' or 'adamw'")
        power = self.poly_power
        return optimizer, LambdaLR(optimizer, lambda step: poly_factor(step, total_steps, power))


def poly_factor(step: int, total: int, power: float) -> float:
    """Return the poly learning-rate factor ``(1 - step / total) ** power``.

    Args:
        step: current optimiser step.
        total: total number of steps; the factor reaches 0 there.
        power: poly exponent (0.9 in the authors' code).

    Returns:
        The multiplier for the base learning rate, in [0, 1].
    """
    if total <= 0:
        return 1.0
    return float(max(0.0, 1.0 - min(step, total) / total) ** power)
