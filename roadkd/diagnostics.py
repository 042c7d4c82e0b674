"""Diagnose what a distilled student learns from: the quality of the teachers' pseudo labels.

SSLKD's unsupervised term trains the student on the fused teachers' argmax wherever their
mean confidence reaches a threshold. How many pixels pass (coverage), how often those
pixels are right (accuracy), and how much of the true road they cover bound what the
student can gain from unlabelled imagery; this module measures them on a labelled split.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rasterio.windows import Window

from .datasets.layout import image_path, mask_path, read_splits
from .device import select_device
from .errors import RoadkdError
from .inference.tiling import pad_to
from .losses import PSEUDO_LABEL_THRESHOLD, fuse_teacher_probabilities
from .metrics.pixel import IGNORE_INDEX, confusion_counts, scores_from_counts
from .models.checkpoint import read_checkpoint
from .models.deploy import bundle_from_checkpoint
from .models.teachers import frozen_teachers
from .normalization import normalize
from .raster import open_raster


@dataclass
class PseudoLabelQuality:
    """Pseudo-label statistics over every pixel of a split.

    Attributes:
        threshold: confidence threshold (SSLKD's ``threshold``).
        coverage: share of pixels whose fused confidence reaches the threshold.
        accuracy: share of those confident pixels whose pseudo label is right.
        road_recall: share of true road pixels that get a confident road pseudo label.
        false_road: share of confident road pseudo labels that are not road.
        agreement: share of pixels where the two teachers' argmax agree.
        teacher_iou: road IoU of each teacher alone and of the fused teachers, at p >= 0.5.
    """

    threshold: float
    coverage: float = 0.0
    accuracy: float = 0.0
    road_recall: float = 0.0
    false_road: float = 0.0
    agreement: float = 0.0
    teacher_iou: dict[str, float] = field(default_factory=dict)


def pseudo_label_quality(
    teachers_checkpoint: str | Path,
    data: str | Path,
    split: str = "test",
    threshold: float = PSEUDO_LABEL_THRESHOLD,
    tile: int = 512,
    device: str = "auto",
) -> PseudoLabelQuality:
    """Measure the teachers' pseudo labels against the ground truth of a split.

    Args:
        teachers_checkpoint: a checkpoint written by ``CrossModelTeachers``.
        data: dataset folder in roadkd's layout.
        split: "train", "val" or "test" (val/test measure pseudo labels on unseen images).
        threshold: the student's pseudo-label confidence threshold.
        tile: side of the windows the scenes are read and predicted in.
        device: "auto", "cpu" or "cuda".

    Returns:
        The statistics over every pixel of the split.

    Raises:
        RoadkdError: if the checkpoint is not a teachers checkpoint or the split is empty.
    """
    root = Path(data)
    scenes = read_splits(root).get(split, [])
    if not scenes:
        raise RoadkdError(f"{root / 'splits.json'} has no {split} scenes")
    source = Path(teachers_checkpoint)
    checkpoint = read_checkpoint(source, "teachers checkpoint")
    target = select_device(device)
    teachers = [model.to(target) for model, _ in frozen_teachers(checkpoint, source)]
    bundle = bundle_from_checkpoint(checkpoint, source)  # the normalisation they trained with
    totals = {"pixels": 0, "confident": 0, "right": 0, "road": 0, "road_hit": 0, "agree": 0}
    confident_road = np.zeros(2, dtype=np.int64)  # [pseudo road pixels, of which not road]
    counts = {name: np.zeros(4, dtype=np.int64) for name in ("a", "b", "fused")}
    for scene in scenes:
        with (
            open_raster(image_path(root, scene), "image", georeferenced=False) as image,
            open_raster(mask_path(root, scene), "mask", georeferenced=False) as mask,
        ):
            for row in range(0, image.height, tile):
                for col in range(0, image.width, tile):
                    window = Window(
                        col, row, min(tile, image.width - col), min(tile, image.height - row)
                    )
                    pixels = image.read(window=window).astype(np.float32)
                    labels = torch.from_numpy(mask.read(1, window=window)).to(target)
                    valid, truth = labels != IGNORE_INDEX, labels == 1
                    logits = _teacher_logits(teachers, pixels, bundle.mean, bundle.std, target)
                    fused = fuse_teacher_probabilities(logits)[0]
                    confidence, label = fused.max(dim=0)
                    confident = (confidence >= threshold) & valid
                    pseudo_road = confident & (label == 1)
                    argmax = [t[0].argmax(dim=0) == 1 for t in logits]
                    totals["pixels"] += int(valid.sum())
                    totals["confident"] += int(confident.sum())
                    totals["right"] += int((confident & ((label == 1) == truth)).sum())
                    totals["road"] += int(truth.sum())
                    totals["road_hit"] += int((pseudo_road & truth).sum())
                    totals["agree"] += int(((argmax[0] == argmax[1]) & valid).sum())
                    confident_road += [int(pseudo_road.sum()), int((pseudo_road & ~truth).sum())]
                    for name, road in (("a", argmax[0]), ("b", argmax[1]), ("fused", label == 1)):
                        counts[name] += confusion_counts(road.long(), labels)

    def share(part: int | np.integer, whole: int | np.integer) -> float:
        return float(part / whole) if whole else 0.0

    return PseudoLabelQuality(
        threshold=threshold,
        coverage=share(totals["confident"], totals["pixels"]),
        accuracy=share(totals["right"], totals["confident"]),
        road_recall=share(totals["road_hit"], totals["road"]),
        false_road=share(confident_road[1], confident_road[0]),
        agreement=share(totals["agree"], totals["pixels"]),
        teacher_iou={n: scores_from_counts(*c.tolist())["road_iou"] for n, c in counts.items()},
    )


@torch.inference_mode()
def _teacher_logits(
    teachers: list[torch.nn.Module],
    pixels: np.ndarray,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    device: torch.device,
) -> list[torch.Tensor]:
    """Each teacher's (1, C, H, W) logits for one (C, H, W) window of raw pixels.

    The window is padded (as in tiled inference) to a multiple of 32, the stride of the
    networks' deepest features, and the logits are cropped back to the window.
    """
    _, height, width = pixels.shape
    padded = pad_to(pixels, height + -height % 32, width + -width % 32)
    x = normalize(torch.from_numpy(padded)[None].to(device), mean, std)
    return [t(x)[..., :height, :width].float() for t in teachers]
