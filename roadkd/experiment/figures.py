"""The experiment's figures: road IoU against the labelled ratio, and the paper's Figure 4."""

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..datasets.layout import image_path, mask_path, read_splits
from ..inference import load_backend
from ..io import atomic_output
from ..labels import IGNORE_INDEX
from ..metrics.pixel import confusion_counts, scores_from_counts
from .config import METHODS, TRIVIAL_MAPS, Experiment, ratio_label
from .rundir import RunDir


def plot_iou(rows: list[dict[str, Any]], out: Path, references: list[str]) -> None:
    """Mean road IoU against the labelled ratio, one line per method.

    References are dashed, the trivial maps (:data:`TRIVIAL_MAPS`) grey and dotted.

    Args:
        rows: the table's rows (:func:`~roadkd.experiment.report.summarise`); error bars
            show ``road_iou_std`` (none for a single seed).
        out: the PNG file.
        references: methods drawn dashed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ratios = sorted({r["ratio"] for r in rows})
    for method in dict.fromkeys(r["method"] for r in rows):
        points = sorted(
            (r["ratio"], r["road_iou_mean"], np.nan_to_num(r["road_iou_std"]))
            for r in rows
            if r["method"] == method
        )
        x, y, std = zip(*points, strict=True)
        if method in TRIVIAL_MAPS:
            ax.plot(x, y, ":", color="grey", label=METHODS[method].label)
            continue
        style = "--" if method in references else "-"
        ax.errorbar(x, y, yerr=std, fmt=style, marker="o", capsize=3, label=METHODS[method].label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(ratios, [ratio_label(r) for r in ratios])
    ax.minorticks_off()
    ax.set_xlabel("labelled ratio")
    ax.set_ylabel("test road IoU (mean ± std over seeds)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    with atomic_output(out) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)


def pick_crops(
    masks: list[np.ndarray], crop: int, count: int, margin: int
) -> list[tuple[int, int, int]]:
    """Choose the test crops to show.

    The ``count`` crops with the most road, at most one per scene until every scene has
    given one, never overlapping.

    Args:
        masks: ground-truth road masks of the test scenes.
        crop: side of a crop in pixels.
        count: number of crops.
        margin: context kept around a crop (crops stay this far from scene edges).

    Returns:
        (scene index, row, col) of each crop's top-left corner.
    """
    candidates = []
    for index, mask in enumerate(masks):
        height, width = mask.shape
        for row in range(margin, height - crop - margin + 1, crop // 2):
            for col in range(margin, width - crop - margin + 1, crop // 2):
                road = int(mask[row : row + crop, col : col + crop].sum())
                candidates.append((road, index, row, col))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2], c[3]))
    picked: list[tuple[int, int, int]] = []
    for rounds in range(count):
        for _, index, row, col in candidates:
            if len(picked) == count:
                return picked
            taken = [p for p in picked if p[0] == index]
            overlaps = any(abs(r - row) < crop and abs(c - col) < crop for _, r, c in taken)
            if len(taken) <= rounds and not overlaps:
                picked.append((index, row, col))
    return picked


def error_colours(prediction: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """RGB picture of a binary prediction against labels (1 road, 0 background, 255 unknown).

    Hits are white, false roads red, missed roads blue and unknown pixels grey.
    """
    truth = labels == 1
    picture = np.zeros((*labels.shape, 3), dtype=np.uint8)
    picture[prediction & truth] = (255, 255, 255)
    picture[prediction & ~truth] = (230, 40, 40)
    picture[~prediction & truth] = (40, 110, 255)
    picture[labels == IGNORE_INDEX] = (128, 128, 128)
    return picture


def plot_examples(
    experiment: Experiment, out: Path, crop: int = 256, count: int = 3, margin: int = 32
) -> None:
    """Draw the paper's Figure 4: image, ground truth and each method's prediction.

    Every method is shown on the same test crops (from :func:`pick_crops`), at the lowest
    labelled ratio and the first seed; each panel is titled with its crop's road IoU. A
    method whose checkpoint is not on this machine (a run read back from the experiment's
    ``record``) has no column.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import rasterio

    root = Path(experiment.data)
    scenes = read_splits(root)["test"]
    masks = []
    for scene in scenes:
        with rasterio.open(mask_path(root, scene)) as src:
            masks.append(src.read(1))
    side = min(min(mask.shape) for mask in masks)
    margin = min(margin, side // 8)
    crop = min(crop, side - 2 * margin)
    crops = pick_crops([mask == 1 for mask in masks], crop, count, margin)
    images = []
    for index, row, col in crops:
        with rasterio.open(image_path(root, scenes[index])) as src:
            window = ((row - margin, row + crop + margin), (col - margin, col + crop + margin))
            images.append(src.read(window=window))
    ratio = min(experiment.ratios)
    inner = (slice(margin, margin + crop), slice(margin, margin + crop))
    labels = [masks[i][r : r + crop, c : c + crop] for i, r, c in crops]
    # Each column: its title and one (picture, caption) per crop.
    columns: list[tuple[str, list[tuple[np.ndarray, str]]]] = [
        ("image", [(image[:3].transpose(1, 2, 0)[inner], "") for image in images]),
        ("ground truth", [(error_colours(truth == 1, truth), "") for truth in labels]),
    ]
    seed = experiment.seeds[0]
    for method in experiment.methods_at(ratio):
        best = RunDir(Path(experiment.out), method, ratio, seed).best
        if not best.is_file():
            # read back from the experiment's record, trained on another machine
            continue
        backend = load_backend(best)
        panels = []
        for image, truth in zip(images, labels, strict=True):
            batch = torch.from_numpy(image.astype(np.float32))[None]
            road = backend.predict(batch)[0].cpu().numpy()[inner] >= 0.5
            iou = scores_from_counts(*confusion_counts(road, truth))["road_iou"]
            panels.append((error_colours(road, truth), f"IoU {iou:.2f}"))
        columns.append((METHODS[method].label, panels))
    fig, axes = plt.subplots(
        len(crops), len(columns), figsize=(2.1 * len(columns), 2.3 * len(crops)), squeeze=False
    )
    for c, (title, panels) in enumerate(columns):
        for r, (picture, caption) in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title("\n".join(filter(None, [title if r == 0 else "", caption])), fontsize=7)
    fig.suptitle(
        f"Test crops at labelled ratio {ratio_label(ratio)}, seed {seed}: white hit, "
        "red false road, blue missed road, grey unlabelled",
        fontsize=8,
    )
    with atomic_output(out) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
