"""Diagnose what a distilled student learns from: the quality of the teachers' pseudo labels.

SSLKD's unsupervised term trains the student on the fused teachers' argmax, weighted by a
fusion rule (:func:`roadkd.losses.pseudo_label_weights`: a confidence threshold, every
pixel, or a confidence weight). How much of the imagery teaches (coverage), how often it
teaches right (accuracy), how much of the true road it teaches as road (road recall) and
how much of what it teaches as road is road (road precision) bound what the student can
gain from unlabelled imagery. This module measures them where the student learns from
them, the unlabelled blocks of the training scenes (or on any labelled split), with the
teachers tiled as ``evaluate`` tiles every model, so the numbers agree with its scores.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .datasets.layout import image_path, mask_path, read_splits
from .errors import RoadkdError
from .imagery import read_on_grid
from .inference.backends import TorchBackend
from .inference.predict import check_tiling, default_overlap, predict_scene
from .io import reading, scratch_folder
from .losses import PSEUDO_LABEL_THRESHOLD, pseudo_label_weights
from .metrics.pixel import IGNORE_INDEX, confusion_counts, scores_from_counts
from .models.checkpoint import read_checkpoint
from .models.deploy import bundle_from_checkpoint
from .models.teachers import frozen_teachers
from .raster import open_raster


@dataclass(frozen=True)
class FusionRule:
    """One way of turning the fused teachers' probabilities into pseudo labels.

    Attributes:
        rule: ``"threshold"``, ``"argmax"``, ``"confidence"`` or ``"road_threshold"``
            (:func:`roadkd.losses.pseudo_label_weights`).
        threshold: the confidence a pixel needs under ``"threshold"``, the road
            probability it needs to be road under ``"road_threshold"``.
    """

    rule: str
    threshold: float = PSEUDO_LABEL_THRESHOLD

    @property
    def name(self) -> str:
        """How tables name the rule: "threshold 0.9", "argmax", "confidence", "road 0.3"."""
        if self.rule == "road_threshold":
            return f"road {self.threshold:g}"
        return f"threshold {self.threshold:g}" if self.rule == "threshold" else self.rule


#: The rules the experiment compares on validation before any student trains.
FUSION_RULES = (
    FusionRule("threshold", 0.9),
    FusionRule("threshold", 0.7),
    FusionRule("argmax"),
    FusionRule("confidence"),
    FusionRule("road_threshold", 0.3),
    FusionRule("road_threshold", 0.2),
)


@dataclass
class RuleQuality:
    """What one fusion rule's pseudo labels teach, every pixel weighted by its weight.

    Attributes:
        rule: the rule.
        coverage: weight taught per pixel (the share of confident pixels under a threshold).
        accuracy: share of the taught weight that teaches the right class.
        road_precision: share of the weight taught as road that is road.
        road_recall: weight taught as road on true road, per true road pixel.
        net_teaching: for road and background in turn, the weight taught right minus the
            weight taught wrong per pixel of the class, averaged over the two classes: 1
            when every pixel teaches its class with full weight, 0 when nothing is taught
            (or right and wrong cancel), negative when more is taught wrong than right.
    """

    rule: FusionRule
    coverage: float = 0.0
    accuracy: float = 0.0
    road_precision: float = 0.0
    road_recall: float = 0.0
    net_teaching: float = 0.0


@dataclass
class PseudoLabelQuality:
    """Pseudo-label statistics over every measured pixel.

    Attributes:
        where: what was measured ("the unlabelled blocks of the train split", ...).
        pixels: labelled pixels measured.
        rules: one entry per fusion rule.
        agreement: share of pixels where the two teachers' argmax agree.
        teacher_iou: road IoU of teacher A, B and of the fused teachers, at p >= 0.5.
    """

    where: str
    pixels: int = 0
    rules: list[RuleQuality] = field(default_factory=list)
    agreement: float = 0.0
    teacher_iou: dict[str, float] = field(default_factory=dict)

    def of(self, rule: FusionRule) -> RuleQuality:
        """The statistics of one measured rule.

        Raises:
            KeyError: if the rule was not measured.
        """
        for quality in self.rules:
            if quality.rule == rule:
                return quality
        raise KeyError(rule.name)

    @property
    def best(self) -> RuleQuality:
        """The rule that teaches most right against wrong (highest ``net_teaching``)."""
        return max(self.rules, key=lambda q: q.net_teaching)


class _RuleSums:
    """Running weighted sums of one rule (see :class:`RuleQuality`)."""

    def __init__(self, rule: FusionRule) -> None:
        self.rule = rule
        # taught weight, taught right, taught as road, taught as road on road,
        # per class (background, road): right minus wrong
        self.sums = np.zeros(6, np.float64)

    def add(self, fused_road: torch.Tensor, truth: torch.Tensor) -> None:
        probs = torch.stack([1 - fused_road, fused_road])[None]
        labels, weights = pseudo_label_weights(probs, self.rule.rule, self.rule.threshold)
        road, w = labels[0] == 1, weights[0].double()
        right = road == truth
        signed = torch.where(right, w, -w)
        self.sums += [
            float(w.sum()),
            float(w[right].sum()),
            float(w[road].sum()),
            float(w[road & truth].sum()),
            float(signed[~truth].sum()),
            float(signed[truth].sum()),
        ]

    def quality(self, pixels: int, road: int) -> RuleQuality:
        taught, right, as_road, road_hit, net_bg, net_road = self.sums.tolist()
        return RuleQuality(
            rule=self.rule,
            coverage=_share(taught, pixels),
            accuracy=_share(right, taught),
            road_precision=_share(road_hit, as_road),
            road_recall=_share(road_hit, road),
            net_teaching=(_share(net_bg, pixels - road) + _share(net_road, road)) / 2,
        )


def _share(part: float, whole: float) -> float:
    return float(part / whole) if whole else 0.0


def pseudo_label_quality(
    teachers_checkpoint: str | Path,
    data: str | Path,
    split: str = "test",
    rules: Sequence[FusionRule] = FUSION_RULES,
    regions: Mapping[str, np.ndarray] | None = None,
    tile: int | None = None,
    overlap: int | None = None,
    batch_size: int = 4,
    device: str = "auto",
) -> PseudoLabelQuality:
    """Measure the teachers' pseudo labels against the ground truth.

    Each teacher predicts every scene with tiled inference, as ``evaluate`` scores a model
    (same tiles, overlap and blending), and the fused road probability is the mean of the
    two.

    Args:
        teachers_checkpoint: a checkpoint written by ``CrossModelTeachers``.
        data: dataset folder in roadkd's layout.
        split: "train", "val" or "test".
        rules: the fusion rules to measure.
        regions: per scene of the split, a boolean map (the scene's shape) of the pixels
            to measure; scenes it does not name are skipped (None: every pixel of every
            scene). :meth:`roadkd.datamodules.RoadDataModule.unlabeled_pixels` gives the
            unlabelled training blocks of a run.
        tile: tile side (default: the teachers' training patch).
        overlap: tile overlap in pixels (default: an eighth of the tile).
        batch_size: tiles per forward pass.
        device: "auto", "cpu" or "cuda".

    Returns:
        The statistics over every measured pixel.

    Raises:
        RoadkdError: if the checkpoint is not a teachers checkpoint, the split is empty or
            ``regions`` names no scene of it.
    """
    root = Path(data)
    scenes = read_splits(root).get(split, [])
    if regions is not None:
        scenes = [s for s in scenes if s in regions]
    if not scenes:
        raise RoadkdError(f"{root / 'splits.json'} has no {split} scenes to measure")
    source = Path(teachers_checkpoint)
    checkpoint = read_checkpoint(source, "teachers checkpoint")
    bundle = bundle_from_checkpoint(checkpoint, source)  # the facts the teachers trained with
    backends = [
        TorchBackend.of_bundle(replace(bundle, model=model, config=config), device)
        for model, config in frozen_teachers(checkpoint, source)
    ]
    tile_size = tile or bundle.tile_size
    overlap = default_overlap(tile_size) if overlap is None else overlap
    check_tiling(tile_size, overlap)
    sums = [_RuleSums(rule) for rule in rules]
    counts = {name: np.zeros(4, dtype=np.int64) for name in ("a", "b", "fused")}
    totals = {"pixels": 0, "road": 0, "agree": 0}
    with scratch_folder("pseudo-labels") as scratch:
        for scene in scenes:
            image = image_path(root, scene)
            with open_raster(mask_path(root, scene), "mask", georeferenced=False) as src:
                labels = src.read(1)
                transform, crs = src.transform, src.crs
            probs = []
            for name, backend in zip("ab", backends, strict=True):
                out = Path(scratch) / f"{scene}_{name}.tif"
                with reading(image, "image"):
                    predict_scene(image, backend, out, tile_size, overlap, batch_size)
                probs.append(np.nan_to_num(read_on_grid(out, crs, transform, labels.shape)))
            keep = labels != IGNORE_INDEX
            if regions is not None:
                keep &= regions[scene]
            truth = torch.from_numpy(labels[keep] == 1)
            p_a, p_b = (torch.from_numpy(p[keep]) for p in probs)
            fused = (p_a + p_b) / 2
            for rule in sums:
                rule.add(fused, truth)
            roads = {"a": p_a >= 0.5, "b": p_b >= 0.5, "fused": fused >= 0.5}
            for name, road in roads.items():
                counts[name] += confusion_counts(road.long(), truth.long())
            totals["pixels"] += int(keep.sum())
            totals["road"] += int(truth.sum())
            totals["agree"] += int((roads["a"] == roads["b"]).sum())
    where = f"the {split} split" if regions is None else f"the given regions of the {split} split"
    return PseudoLabelQuality(
        where=where,
        pixels=totals["pixels"],
        rules=[rule.quality(totals["pixels"], totals["road"]) for rule in sums],
        agreement=_share(totals["agree"], totals["pixels"]),
        teacher_iou={n: scores_from_counts(*c.tolist())["road_iou"] for n, c in counts.items()},
    )
