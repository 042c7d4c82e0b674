"""Import the public RoadNet (Ottawa) release into roadkd's on-disk layout.

The release has folders ``1/`` .. ``20/``, each holding ``Ottawa-N.tif`` (RGB, no
georeference) and ``segmentation.png``, ``edge.png``, ``centerline.png`` (labels drawn in
red on white). Because the release has no georeference, one is *assigned*: a north-up grid
at 0.21 m/px in a projected CRS, scenes placed apart so they never overlap. The assigned
georeference is recorded in ``splits.json`` under ``note``.
"""

import warnings
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from PIL import Image
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

from ..errors import RoadkdError
from ..normalization import ROADNET_RESOLUTION_M
from .layout import check_new_dataset_folder, staged_dataset, write_scene, write_splits

#: Scene numbers of the release and the official split (Liu et al., RoadNet, 2019).
RELEASE_SCENES: tuple[int, ...] = tuple(range(1, 21))
OFFICIAL_TRAIN: tuple[int, ...] = tuple(range(2, 16))
OFFICIAL_TEST: tuple[int, ...] = (1, 16, 17, 18, 19, 20)
#: Label file of each mask kind.
LABEL_FILES: dict[str, str] = {
    "surface": "segmentation.png",
    "edge": "edge.png",
    "centerline": "centerline.png",
}
#: Default upper-left corner of scene 1 (EPSG:32618 metres, around Ottawa).
DEFAULT_ORIGIN: tuple[float, float] = (445_000.0, 5_030_000.0)
#: Gap left between neighbouring scenes, in metres.
SCENE_GAP_M = 500.0
#: Scenes per row of the placement grid.
GRID_COLUMNS = 5

ASSIGNED_NOTE = (
    "georeference ASSIGNED by roadkd, not real: the RoadNet release has none; scenes are "
    "placed apart on a north-up grid at {res} m/px in {crs} from origin {origin}"
)


def scene_name(number: int) -> str:
    """Return the roadkd scene name of release scene ``number`` (``ottawa_01`` ...)."""
    return f"ottawa_{number:02d}"


def red_label(rgb: np.ndarray) -> np.ndarray:
    """Turn a red-on-white label drawing into a 0/1 mask.

    Road pixels are red (R high, G and B low); white and anti-aliased near-white pixels are
    background.

    Args:
        rgb: (H, W, C) uint8 with at least 3 channels, or (H, W) grey (then dark = label).

    Returns:
        (H, W) uint8 0/1.
    """
    if rgb.ndim == 2:
        return (rgb < 128).astype(np.uint8)
    r, g, b = (rgb[..., i].astype(np.int16) for i in range(3))
    return ((r >= 128) & (g < 128) & (b < 128)).astype(np.uint8)


def _read_image(path: Path) -> np.ndarray:
    """Read a release image as (3, H, W) uint8 (no CRS expected, so no warning)."""
    if not path.is_file():
        raise RoadkdError(f"missing RoadNet image: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                data = src.read()
    except RasterioIOError as err:
        raise RoadkdError(f"cannot read RoadNet image {path}: {err}") from err
    if data.shape[0] < 3:
        raise RoadkdError(f"RoadNet image {path} has {data.shape[0]} bands, expected RGB")
    data = data[:3]
    if data.dtype != np.uint8:
        raise RoadkdError(f"RoadNet image {path} is {data.dtype}, expected uint8")
    return np.ascontiguousarray(data)


def _image_shape(path: Path) -> tuple[int, int]:
    """Return (height, width) of a release image from its header."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                return src.height, src.width
    except RasterioIOError as err:
        raise RoadkdError(f"cannot read RoadNet image {path}: {err}") from err


def _read_label(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """Read a red-on-white label PNG as a 0/1 mask of the image's shape."""
    if not path.is_file():
        raise RoadkdError(f"missing RoadNet label: {path}")
    try:
        with Image.open(path) as img:
            array = np.asarray(img.convert("RGB") if img.mode not in ("L", "RGB") else img)
    except (OSError, ValueError) as err:
        raise RoadkdError(f"cannot read RoadNet label {path}: {err}") from err
    if array.shape[:2] != shape:
        raise RoadkdError(
            f"RoadNet label {path} is {array.shape[1]}x{array.shape[0]} px but the image is "
            f"{shape[1]}x{shape[0]} px"
        )
    return red_label(array)


def _scene_files(src: Path, number: int) -> tuple[Path, dict[str, Path]]:
    """Return the image path and label paths of release scene ``number``."""
    folder = src / str(number)
    if not folder.is_dir():
        raise RoadkdError(f"missing RoadNet scene folder: {folder}")
    image = folder / f"Ottawa-{number}.tif"
    return image, {kind: folder / name for kind, name in LABEL_FILES.items()}


def official_split(
    scenes: list[int], val_fraction: float = 0.1, seed: int = 1
) -> dict[str, list[str]]:
    """Return the documented split: 2-15 train, 1 and 16-20 test, a seeded part of train val.

    Args:
        scenes: release scene numbers being imported.
        val_fraction: share of the training scenes moved to validation (at least one when
            there are two or more training scenes and the fraction is positive).
        seed: seed of the validation draw.

    Returns:
        Split name -> scene names.
    """
    train = [n for n in scenes if n in OFFICIAL_TRAIN]
    test = [n for n in scenes if n in OFFICIAL_TEST]
    n_val = 0
    if val_fraction > 0 and len(train) >= 2:
        n_val = min(len(train) - 1, max(1, round(val_fraction * len(train))))
    rng = np.random.default_rng(seed)
    val = sorted(int(n) for n in rng.choice(train, size=n_val, replace=False)) if n_val else []
    return {
        "train": [scene_name(n) for n in train if n not in val],
        "val": [scene_name(n) for n in val],
        "test": [scene_name(n) for n in test],
        "unlabeled": [],
    }


def _parse_origin(origin: tuple[float, float] | str) -> tuple[float, float]:
    """Accept ``(x, y)`` or ``"X,Y"``."""
    if isinstance(origin, str):
        parts = origin.split(",")
        try:
            x, y = (float(p) for p in parts)
        except ValueError as err:
            raise RoadkdError(f"--origin must be X,Y in CRS units, got {origin!r}") from err
        return x, y
    return float(origin[0]), float(origin[1])


def convert_roadnet_release(
    src: str | Path,
    dst: str | Path,
    crs: str = "EPSG:32618",
    origin: tuple[float, float] | str = DEFAULT_ORIGIN,
    val_fraction: float = 0.1,
    seed: int = 1,
    resolution: float = ROADNET_RESOLUTION_M,
    scenes: list[int] | None = None,
) -> Path:
    """Convert the RoadNet release into roadkd's layout with an assigned georeference.

    Every scene gets a north-up transform at ``resolution`` m/px; scene ``k`` (0-based in
    release order) is placed at row ``k // 5``, column ``k % 5`` of a grid starting at
    ``origin`` whose cells are the largest scene plus 500 m, so scenes never overlap. The
    folder is built beside ``dst`` and renamed into place, so a failed run leaves nothing.

    Args:
        src: the extracted release (folders ``1/`` .. ``20/``).
        dst: dataset folder to create (must not exist or be empty).
        crs: projected CRS to assign (metres).
        origin: upper-left corner of the first scene, ``(x, y)`` or ``"X,Y"``.
        val_fraction: share of the official training scenes used for validation.
        seed: seed of the validation draw.
        resolution: pixel size to assign, in CRS units.
        scenes: release scene numbers to import (default: all 20).

    Returns:
        The dataset folder.

    Raises:
        RoadkdError: for a missing source, a missing/unreadable/mis-sized file (named), a
            bad CRS or origin, or an existing non-empty output folder.
    """
    source, target = Path(src), Path(dst)
    if not source.is_dir():
        raise RoadkdError(f"RoadNet release folder not found: {source}")
    try:
        crs_obj = CRS.from_user_input(crs)
    except Exception as err:  # rasterio raises several types for bad CRS strings
        raise RoadkdError(f"invalid --crs {crs!r}: {err}") from err
    if crs_obj.is_geographic:
        raise RoadkdError(f"--crs {crs} is geographic; use a projected CRS in metres")
    x0, y0 = _parse_origin(origin)
    if resolution <= 0:
        raise RoadkdError("resolution must be positive")
    if not 0 <= val_fraction < 1:
        raise RoadkdError("val_fraction must be in [0, 1)")
    numbers = list(RELEASE_SCENES if scenes is None else scenes)
    check_new_dataset_folder(target)

    # Check every file before writing anything, so the common mistake fails fast.
    files = [_scene_files(source, n) for n in numbers]
    for image_file, labels in files:
        for path in (image_file, *labels.values()):
            if not path.is_file():
                kind = "image" if path == image_file else "label"
                raise RoadkdError(f"missing RoadNet {kind}: {path}")

    with staged_dataset(target) as staging:
        # The grid cell must hold the largest scene; sizes come from headers, not pixels.
        cell = max(max(_image_shape(image_file)) for image_file, _ in files) * resolution
        cell += SCENE_GAP_M
        for k, (n, (image_file, labels)) in enumerate(zip(numbers, files, strict=True)):
            image = _read_image(image_file)
            shape = (image.shape[1], image.shape[2])
            masks = {kind: _read_label(path, shape) for kind, path in labels.items()}
            row, col = divmod(k, GRID_COLUMNS)
            transform = Affine(resolution, 0.0, x0 + col * cell, 0.0, -resolution, y0 - row * cell)
            write_scene(staging, scene_name(n), image, masks, transform, crs_obj)
        origin_text = f"{x0},{y0}"
        write_splits(
            staging,
            official_split(numbers, val_fraction, seed),
            crs=crs_obj.to_string(),
            resolution_m=resolution,
            source="roadnet",
            georeference="assigned",
            origin=[x0, y0],
            note=ASSIGNED_NOTE.format(res=resolution, crs=crs_obj.to_string(), origin=origin_text),
        )
    return target
