"""Score a model on a dataset split: pixel, relaxed and graph metrics per scene and overall."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import RasterioError
from skimage.morphology import skeletonize

from .datasets.layout import image_path, mask_path, read_splits
from .errors import RoadkdError
from .ground import ground_resolution_m
from .imagery import read_on_grid
from .inference import load_backend, predict_scene
from .inference.backends import check_model_runs
from .inference.predict import check_tiling, default_overlap
from .io import atomic_output, reading, require_file, scratch_folder
from .metrics import apls, confusion_counts, scores_from_counts
from .metrics.pixel import IGNORE_INDEX
from .metrics.relaxed import relaxed_counts, relaxed_scores
from .vectorize import VectorizeOptions, vectorize_array
from .vectorize.core import road_mask


@dataclass
class Evaluation:
    """Per-scene scores and the overall scores of one model on one split."""

    model: str
    split: str
    scenes: dict[str, dict[str, float]] = field(default_factory=dict)
    overall: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

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
    root = Path(data)
    encodings = check_split_labels(root, splits[split])
    backend = load_backend(model, device)
    result = Evaluation(model=str(model), split=split, notes=_note_encodings(encodings))
    totals = np.zeros(4, np.int64)
    relaxed_hits = np.zeros(4, np.int64)  # matched pred, pred, matched truth, truth
    graph_scores = []
    tile_size = tile or backend.tile_size
    overlap = default_overlap(tile_size) if overlap is None else overlap
    check_tiling(tile_size, overlap)
    check_model_runs(backend, tile_size, model)
    with scratch_folder("evaluate") as scratch:
        for scene in splits[split]:
            prob_path = Path(scratch) / f"{scene}.tif"
            image = image_path(root, scene)
            with reading(image, "image"):
                predict_scene(image, backend, prob_path, tile_size, overlap, batch_size)
            surface, centerline = (
                _read_labels(mask_path(root, scene, kind), encodings[scene, kind])
                for kind in ("surface", "centerline")
            )
            centerline = centerline == 1
            # The probability is on the model's grid; scores are on the labels' (= image's) grid.
            with rasterio.open(image) as src:
                transform, crs = src.transform, src.crs
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
            hits = relaxed_counts(skeleton, centerline, buffer_px)
            relaxed_hits += hits
            scores["relaxed_precision"], scores["relaxed_recall"] = relaxed_scores(hits)

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


# --- label checks: every mask on its image's grid, holding values evaluate understands -----

#: How a label raster's values are read, by the set of values it holds.
#: ``binary``: 0 background, 1 road. ``0/255``: 0 background, 255 road (a common export of
#: binary masks; accepted and said once). ``ignore``: 0, 1 and 255, where 255 is the
#: "not labelled" value training uses (``IGNORE_INDEX``) and is left out of the scores.
#: A mask holding only 0 and 255 is read as road, not as "nothing labelled" (a label
#: raster without a single labelled pixel would be useless for evaluation), unless its
#: dataset states ``ignore_index`` in ``splits.json`` (every layout roadkd writes does):
#: then 255 is unknown there too, e.g. a held-out block that only touches a road's
#: uncertain band.
LABEL_ENCODINGS = ("binary", "0/255", "ignore")


def label_encoding(path: Path, values: np.ndarray, ignore_declared: bool = False) -> str:
    """Classify a label raster by the values it holds.

    Args:
        path: the label file (for messages).
        values: its distinct values.
        ignore_declared: its dataset states that 255 means unknown.

    Returns:
        One of :data:`LABEL_ENCODINGS`.

    Raises:
        RoadkdError: for any other value (naming the file and a few of the values).
    """
    found = {float(v) for v in values}
    if found <= {0.0, 1.0}:
        return "binary"
    if found <= {0.0, float(IGNORE_INDEX)} and not ignore_declared:
        return "0/255"
    if found <= {0.0, 1.0, float(IGNORE_INDEX)}:
        return "ignore"
    shown = ", ".join(f"{v:g}" for v in sorted(found)[:6]) + (", ..." if len(found) > 6 else "")
    raise RoadkdError(
        f"{path} holds the values {shown}: a road mask must hold 0 (background) and 1 "
        f"(road), or 0 and 255, optionally with {IGNORE_INDEX} for unlabelled pixels"
    )


def road_labels(mask: np.ndarray, encoding: str) -> np.ndarray:
    """Labels as scored: 1 road, 0 background, ``IGNORE_INDEX`` left out.

    Args:
        mask: the label raster's values.
        encoding: from :func:`label_encoding`.

    Returns:
        uint8 labels.
    """
    if encoding == "0/255":
        road: np.ndarray = (mask == IGNORE_INDEX).astype(np.uint8)
        return road
    return mask.astype(np.uint8)


def check_label(image: Path, label: Path, what: str, ignore_declared: bool = False) -> str:
    """Check that a label raster lies on its image's grid and holds label values.

    Args:
        image: the scene's image.
        label: the label raster.
        what: how to name the label in messages (e.g. "surface mask").
        ignore_declared: its dataset states that 255 means unknown.

    Returns:
        The label's encoding (see :func:`label_encoding`).

    Raises:
        RoadkdError: for a missing or unreadable label, another CRS, transform or size
            than the image, or values that are not labels.
    """
    require_file(label, what)
    with reading(image, "image"), rasterio.open(image) as img:
        grid = img.crs, img.shape, img.transform
    try:
        with rasterio.open(label) as lab:
            crs, shape, transform = grid
            if lab.crs != crs:
                raise RoadkdError(f"{what} {label} is in {lab.crs} but its image {image} in {crs}")
            if lab.shape != shape:
                raise RoadkdError(
                    f"{what} {label} is {lab.width}x{lab.height} px but its image {image} "
                    f"is {shape[1]}x{shape[0]} px"
                )
            pixel = max(abs(transform.a), abs(transform.e))
            if not lab.transform.almost_equals(transform, precision=1e-3 * pixel):
                dx, dy = lab.transform.c - transform.c, lab.transform.f - transform.f
                raise RoadkdError(
                    f"{what} {label} is not on its image's grid ({image}): origin shifted by "
                    f"({dx:g}, {dy:g}) or another pixel size"
                )
            values = np.unique(lab.read(1))
    except RasterioError as err:
        raise RoadkdError(f"cannot read {what} {label}: {err}") from err
    return label_encoding(label, values, ignore_declared)


def check_split_labels(root: Path, scenes: list[str]) -> dict[tuple[str, str], str]:
    """Check every scene's surface and centreline masks before any work.

    Returns:
        (scene, kind) -> encoding.
    """
    declared = read_splits(root).get("ignore_index") == IGNORE_INDEX
    return {
        (scene, kind): check_label(
            image_path(root, scene), mask_path(root, scene, kind), f"{kind} mask", declared
        )
        for scene in scenes
        for kind in ("surface", "centerline")
    }


def _note_encodings(encodings: dict[tuple[str, str], str]) -> list[str]:
    """What the user should know about how their masks were read (each said once)."""
    notes = []
    if "0/255" in encodings.values():
        notes.append("masks holding 0 and 255 were read as 255 = road")
    if "ignore" in encodings.values():
        notes.append(f"mask pixels of {IGNORE_INDEX} were left out of the scores (unlabelled)")
    return notes


def _read_labels(path: Path, encoding: str) -> np.ndarray:
    with reading(path, "mask"):
        with rasterio.open(path) as src:
            return road_labels(src.read(1), encoding)


def write_evaluation(evaluation: Evaluation, out: str | Path) -> None:
    """Write an evaluation as JSON, atomically."""
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(evaluation.to_dict(), indent=2) + "\n")
