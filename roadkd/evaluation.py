"""Score a model on a dataset split: pixel, relaxed and graph metrics per scene and overall."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.errors import RasterioError
from skimage.morphology import skeletonize

from .datasets.layout import image_path, mask_path, read_splits
from .errors import RoadkdError
from .ground import ground_resolution_m, planar_pixel_size
from .imagery import read_on_grid
from .inference import load_backend, predict_scene
from .inference.backends import check_model_runs
from .inference.predict import check_tiling, default_overlap
from .io import atomic_output, reading, require_file, scratch_folder
from .metrics.apls import apls
from .metrics.options import DEFAULT_SPLIT, RELAXED_BUFFER_PX
from .metrics.pixel import IGNORE_INDEX, confusion_counts, scores_from_counts
from .metrics.relaxed import relaxed_counts, relaxed_scores
from .progress import Progress, as_progress
from .raster import open_raster
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
    unscored: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (``unscored``: scene -> why its labels cannot be scored)."""
        return {
            "model": self.model,
            "split": self.split,
            "scenes": self.scenes,
            "overall": self.overall,
            "unscored": self.unscored,
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
        lines += [f"{name}: not scored, {why}" for name, why in self.unscored.items()]
        return "\n".join(lines)


def evaluate(
    model: str | Path,
    data: str | Path,
    split: str = DEFAULT_SPLIT,
    tile: int | None = None,
    overlap: int | None = None,
    batch_size: int = 4,
    device: str = "auto",
    options: VectorizeOptions | None = None,
    buffer_px: float = RELAXED_BUFFER_PX,
    progress: bool | Progress = False,
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
        progress: report the scenes scored (stage ``"evaluate"``; True: a bar on stderr).

    A scene whose labels cannot be scored (no labelled road pixel in its surface or
    centreline mask, see :func:`unscorable`) is reported in ``unscored`` and left out of
    every score, the overall ones too.

    Returns:
        The evaluation.

    Raises:
        RoadkdError: for a split without scenes, labels that are not on their image's grid
            or hold other values than labels, or a split where no scene can be scored.
    """
    splits = read_splits(data)
    if split not in ("train", "val", "test") or not splits.get(split):
        raise RoadkdError(f"split {split!r} has no scenes in {Path(data) / 'splits.json'}")
    opts = options or VectorizeOptions()
    root = Path(data)
    checks = check_split_labels(root, splits[split])
    unscored = {
        scene: why for scene in splits[split] if (why := unscorable(scene, checks)) is not None
    }
    scenes = [scene for scene in splits[split] if scene not in unscored]
    if not scenes:
        reasons = "; ".join(f"{scene}: {why}" for scene, why in list(unscored.items())[:3])
        raise RoadkdError(
            f"no scene of split {split!r} can be scored ({reasons}"
            f"{'; ...' if len(unscored) > 3 else ''})"
        )
    backend = load_backend(model, device)
    result = Evaluation(
        model=str(model),
        split=split,
        notes=_label_notes(checks, scenes, unscored),
        unscored=unscored,
    )
    totals = np.zeros(4, np.int64)
    relaxed_hits = np.zeros(4, np.int64)  # matched pred, pred, matched truth, truth
    graph_scores = []
    tile_size = tile or backend.data.tile_size
    overlap = default_overlap(tile_size) if overlap is None else overlap
    check_tiling(tile_size, overlap)
    check_model_runs(backend, tile_size, model)
    with (
        scratch_folder("evaluate") as scratch,
        as_progress(progress).counter("evaluate", len(scenes), "scene") as bar,
    ):
        for scene in scenes:
            prob_path = Path(scratch) / f"{scene}.tif"
            image = image_path(root, scene)
            with reading(image, "image"):
                predict_scene(image, backend, prob_path, tile_size, overlap, batch_size)
            surface, centerline = (
                _read_labels(mask_path(root, scene, kind), checks[scene, kind].encoding)
                for kind in ("surface", "centerline")
            )
            centerline = centerline == 1
            # The probability is on the model's grid; scores are on the labels' (= image's) grid.
            with open_raster(image, "image", georeferenced=False) as src:
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
            bar.update()
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


@dataclass(frozen=True)
class LabelCheck:
    """What a label raster holds, as evaluate reads it.

    Attributes:
        path: the label raster.
        encoding: how its values are read (:data:`LABEL_ENCODINGS`).
        values: its distinct values.
        road_px: pixels read as road.
        labelled_px: pixels read as road or background (not ``IGNORE_INDEX``).
        ignore_declared: its dataset states that 255 means unknown.
    """

    path: Path
    encoding: str
    values: tuple[float, ...]
    road_px: int
    labelled_px: int
    ignore_declared: bool = False


def count_labels(
    path: Path, values: np.ndarray, counts: np.ndarray, ignore_declared: bool = False
) -> LabelCheck:
    """Classify a label raster and count its road and labelled pixels.

    Args:
        path: the label file (for messages).
        values: its distinct values.
        counts: the pixels holding each value.
        ignore_declared: its dataset states that 255 means unknown.

    Raises:
        RoadkdError: for values that are not labels (see :func:`label_encoding`).
    """
    encoding = label_encoding(path, values, ignore_declared)
    road_value = IGNORE_INDEX if encoding == "0/255" else 1
    ignored = IGNORE_INDEX if encoding == "ignore" else None
    road = int(counts[values == road_value].sum())
    labelled = int(counts.sum() - (counts[values == ignored].sum() if ignored else 0))
    found = tuple(float(v) for v in values)
    return LabelCheck(path, encoding, found, road, labelled, ignore_declared)


def unscorable(scene: str, checks: dict[tuple[str, str], LabelCheck]) -> str | None:
    """Why a scene's labels cannot be scored, or None if they can.

    Road scores (IoU, recall, APLS) mean nothing against a mask without a single labelled
    road pixel: every prediction would score 0 (or recall 1 of nothing). That happens
    with a mask of background only, a mask whose every pixel is unlabelled, and a 0/255
    road mask in a dataset whose ``splits.json`` says 255 means unlabelled.

    Args:
        scene: the scene.
        checks: (scene, kind) -> its label check (:func:`check_split_labels`).
    """
    for kind in ("surface", "centerline"):
        check = checks[scene, kind]
        name = f"its {kind} mask {check.path.name}"
        if check.labelled_px == 0:
            return f"every pixel of {name} is {IGNORE_INDEX} (not labelled)"
        if check.road_px > 0:
            continue
        if check.ignore_declared and set(check.values) == {0.0, float(IGNORE_INDEX)}:
            return (
                f"{name} holds only 0 and {IGNORE_INDEX}, and splits.json declares "
                f"ignore_index {IGNORE_INDEX}, so no pixel is labelled road; if "
                f"{IGNORE_INDEX} marks road there, write road as 1"
            )
        return f"{name} labels no pixel as road"
    return None


def check_label(image: Path, label: Path, what: str, ignore_declared: bool = False) -> LabelCheck:
    """Check that a label raster lies on its image's grid and holds label values.

    Args:
        image: the scene's image.
        label: the label raster.
        what: how to name the label in messages (e.g. "surface mask").
        ignore_declared: its dataset states that 255 means unknown.

    Returns:
        Its encoding (see :func:`label_encoding`) and pixel counts.

    Raises:
        RoadkdError: for a missing or unreadable label, another CRS, transform or size
            than the image, or values that are not labels.
    """
    require_file(label, what)
    with reading(image, "image"), open_raster(image, "image", georeferenced=False) as img:
        grid = img.crs, img.shape, img.transform
    try:
        with open_raster(label, what, georeferenced=False) as lab:
            crs, shape, transform = grid
            if lab.crs != crs:
                raise RoadkdError(f"{what} {label} is in {lab.crs} but its image {image} in {crs}")
            if lab.shape != shape:
                raise RoadkdError(
                    f"{what} {label} is {lab.width}x{lab.height} px but its image {image} "
                    f"is {shape[1]}x{shape[0]} px"
                )
            pixel = planar_pixel_size(transform)
            if not lab.transform.almost_equals(transform, precision=1e-3 * pixel):
                dx, dy = lab.transform.c - transform.c, lab.transform.f - transform.f
                raise RoadkdError(
                    f"{what} {label} is not on its image's grid ({image}): origin shifted by "
                    f"({dx:g}, {dy:g}) or another pixel size"
                )
            values, counts = np.unique(lab.read(1), return_counts=True)
    except RasterioError as err:
        raise RoadkdError(f"cannot read {what} {label}: {err}") from err
    return count_labels(label, values, counts, ignore_declared)


def check_split_labels(root: Path, scenes: list[str]) -> dict[tuple[str, str], LabelCheck]:
    """Check every scene's surface and centreline masks before any work.

    Returns:
        (scene, kind) -> its encoding and pixel counts.
    """
    declared = read_splits(root).get("ignore_index") == IGNORE_INDEX
    return {
        (scene, kind): check_label(
            image_path(root, scene), mask_path(root, scene, kind), f"{kind} mask", declared
        )
        for scene in scenes
        for kind in ("surface", "centerline")
    }


#: A split whose surface labels are more road than this gets a note: road is 8-25 % of
#: an urban scene, so masks this full are more likely inverted (1 = background).
MOSTLY_ROAD = 0.5


def _label_notes(
    checks: dict[tuple[str, str], LabelCheck], scored: list[str], unscored: dict[str, str]
) -> list[str]:
    """What the user should know about how their masks were read (each said once)."""
    notes = []
    encodings = {check.encoding for check in checks.values()}
    if "0/255" in encodings:
        notes.append("masks holding 0 and 255 were read as 255 = road")
    if "ignore" in encodings:
        notes.append(f"mask pixels of {IGNORE_INDEX} were left out of the scores (unlabelled)")
    if unscored:
        notes.append(
            f"{len(unscored)} of {len(scored) + len(unscored)} scenes were not scored (their "
            "masks label no road; listed under the table), nor counted in the overall scores"
        )
    surfaces = [checks[scene, "surface"] for scene in scored]
    share = sum(c.road_px for c in surfaces) / max(1, sum(c.labelled_px for c in surfaces))
    if share > MOSTLY_ROAD:
        notes.append(
            f"{share:.0%} of the labelled surface pixels are road (urban scenes hold 8-25 %): "
            "check that the masks mark road, not background, as 1"
        )
    return notes


def _read_labels(path: Path, encoding: str) -> np.ndarray:
    with reading(path, "mask"), open_raster(path, "mask", georeferenced=False) as src:
        return road_labels(src.read(1), encoding)


def write_evaluation(evaluation: Evaluation, out: str | Path) -> None:
    """Write an evaluation as JSON, atomically."""
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(evaluation.to_dict(), indent=2) + "\n")
