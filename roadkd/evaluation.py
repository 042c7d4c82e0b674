"""Score a model on a dataset split: pixel, relaxed and graph metrics per scene and overall."""

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from skimage.morphology import skeletonize

from .datasets.layout import image_path, mask_path, read_splits
from .errors import RoadkdError
from .ground import ground_resolution_m
from .imagery import read_on_grid
from .inference import load_backend, predict_scene
from .inference.predict import default_overlap
from .io import atomic_output
from .labels import ROAD
from .metrics import apls, confusion_counts, scores_from_counts
from .vectorize import VectorizeOptions, vectorize_array
from .vectorize.core import road_mask


@dataclass
class Evaluation:
    """Per-scene scores and the overall scores of one model on one split."""

    model: str
    split: str
    scenes: dict[str, dict[str, float]] = field(default_factory=dict)
    overall: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "model": self.model,
            "split": self.split,
            "scenes": self.scenes,
            "overall": self.overall,
        }

    def table(self) -> str:
        """A readable table, one row per scene and one overall row."""
        keys = [
            "road_iou",
            "precision",
            "recall",
            "f1",
            "miou",
            "relaxed_precision",
            "relaxed_recall",
            "apls",
        ]
        header = ["scene", "IoU", "P", "R", "F1", "mIoU", "rP", "rR", "APLS"]
        rows = [[name, *(f"{s[k]:.3f}" for k in keys)] for name, s in self.scenes.items()]
        rows.append(["overall", *(f"{self.overall[k]:.3f}" for k in keys)])
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]
        ]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        return "\n".join(lines)


def evaluate(
    model: str | Path,
    data: str | Path,
    split: str = "test",
    tile: int | None = None,
    overlap: int | None = None,
    batch_size: int = 4,
    device: str = "auto",
    options: VectorizeOptions | None = None,
    buffer_px: float = 5.0,
) -> Evaluation:
    """Evaluate a model on every scene of a split.

    Pixel scores compare the argmax prediction (p >= 0.5, as in training's validation)
    with the surface labels (overall: from summed counts). Relaxed precision/recall
    compare the skeleton of the prediction with the centreline labels within
    ``buffer_px``. APLS compares the vectorised prediction graph with the graph vectorised
    from the centreline labels (overall: mean).

    Args:
        model: checkpoint or ONNX file.
        data: dataset folder in roadkd's layout.
        split: "train", "val" or "test".
        tile: tile size (default: the model's).
        overlap: tile overlap in pixels (default: an eighth of the tile).
        batch_size: tiles per forward pass.
        device: "auto", "cpu" or "cuda".
        options: vectorisation settings (threshold etc.).
        buffer_px: tolerance of relaxed precision/recall.

    Returns:
        The evaluation.
    """
    splits = read_splits(data)
    if split not in ("train", "val", "test") or not splits.get(split):
        raise RoadkdError(f"split {split!r} has no scenes in {Path(data) / 'splits.json'}")
    opts = options or VectorizeOptions()
    backend = load_backend(model, device)
    result = Evaluation(model=str(model), split=split)
    totals = np.zeros(4, np.int64)
    relaxed_hits = np.zeros(4, np.int64)  # matched pred, pred, matched truth, truth
    graph_scores = []
    with tempfile.TemporaryDirectory(prefix="roadkd-eval-") as scratch:
        for scene in splits[split]:
            prob_path = Path(scratch) / f"{scene}.tif"
            tile_size = tile or backend.tile_size
            predict_scene(
                image_path(Path(data), scene),
                backend,
                prob_path,
                tile_size,
                default_overlap(tile_size) if overlap is None else overlap,
                batch_size,
            )
            with rasterio.open(mask_path(Path(data), scene, "surface")) as src:
                surface, transform, crs = src.read(1), src.transform, src.crs
            with rasterio.open(mask_path(Path(data), scene, "centerline")) as src:
                centerline = src.read(1) == ROAD  # unknown (255) is not centreline
            # The probability is on the model's grid; scores are on the label grid.
            prob = read_on_grid(prob_path, crs, transform, surface.shape)
            resolution = ground_resolution_m(transform, crs, surface.shape)
            # Pixel scores use the argmax (p >= 0.5) as training's validation does, so the
            # numbers compare; the graph metrics use the vectorisation threshold.
            counts = np.array(
                confusion_counts((np.nan_to_num(prob) >= 0.5).astype(np.uint8), surface)
            )
            totals += counts
            scores = scores_from_counts(*counts)

            skeleton = skeletonize(road_mask(prob, resolution, opts))
            hits = _relaxed_counts(skeleton, centerline, buffer_px)
            relaxed_hits += hits
            scores["relaxed_precision"] = hits[0] / hits[1] if hits[1] else 1.0
            scores["relaxed_recall"] = hits[2] / hits[3] if hits[3] else 1.0

            proposal = vectorize_array(prob, transform, crs, opts).graph
            # Centreline labels are a few pixels wide: keep every labelled piece.
            label_options = VectorizeOptions(threshold=0.5, min_blob_m2=0.0, min_network_m=0.0)
            truth = vectorize_array(
                centerline.astype(np.float32), transform, crs, label_options
            ).graph
            scores["apls"] = apls(truth, proposal)
            graph_scores.append(scores["apls"])
            result.scenes[scene] = {k: round(float(v), 4) for k, v in scores.items()}
    overall = scores_from_counts(*totals)
    overall["relaxed_precision"] = relaxed_hits[0] / max(1, relaxed_hits[1])
    overall["relaxed_recall"] = relaxed_hits[2] / max(1, relaxed_hits[3])
    overall["apls"] = float(np.mean(graph_scores))
    result.overall = {k: round(float(v), 4) for k, v in overall.items()}
    return result


def _relaxed_counts(pred: np.ndarray, truth: np.ndarray, buffer_px: float) -> np.ndarray:
    """Matched and total pixels for relaxed precision and recall (summable across scenes)."""
    from scipy import ndimage

    to_truth = (
        ndimage.distance_transform_edt(~truth) if truth.any() else np.full(truth.shape, np.inf)
    )
    to_pred = ndimage.distance_transform_edt(~pred) if pred.any() else np.full(pred.shape, np.inf)
    return np.array(
        [
            int((to_truth[pred] <= buffer_px).sum()),
            int(pred.sum()),
            int((to_pred[truth] <= buffer_px).sum()),
            int(truth.sum()),
        ]
    )


def write_evaluation(evaluation: Evaluation, out: str | Path) -> None:
    """Write an evaluation as JSON, atomically."""
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(evaluation.to_dict(), indent=2) + "\n")
