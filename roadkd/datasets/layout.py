"""The on-disk dataset layout shared by the synthetic generator and the RoadNet importer.

::

    DIR/images/<scene>.tif             RGB uint8, tiled + DEFLATE, projected CRS
    DIR/masks/<kind>/<scene>.tif       uint8 0/1 for kind in surface, edge, centerline
                                       (255: unknown, left out by every loss and metric)
    DIR/splits.json                    scene names per split plus provenance
"""

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from ..errors import RoadkdError
from ..ground import ground_resolution_m
from ..imagery import SAME_RESOLUTION_TOLERANCE
from ..io import PARTIAL_PREFIX, check_replaceable, remove_stale
from ..labels import IGNORE_INDEX
from ..raster import open_raster

MASK_KINDS: tuple[str, ...] = ("surface", "edge", "centerline")
SPLITS: tuple[str, ...] = ("train", "val", "test", "unlabeled")

_PROFILE: dict[str, Any] = {
    "driver": "GTiff",
    "tiled": True,
    "blockxsize": 256,
    "blockysize": 256,
    "compress": "deflate",
    "predictor": 2,
}


def image_path(root: Path, scene: str) -> Path:
    """Return the path of a scene's image."""
    return root / "images" / f"{scene}.tif"


def mask_path(root: Path, scene: str, kind: str = "surface") -> Path:
    """Return the path of one of a scene's label rasters."""
    return root / "masks" / kind / f"{scene}.tif"


def write_geotiff(path: Path, array: np.ndarray, transform: Affine, crs: CRS | str) -> None:
    """Write a (bands, H, W) or (H, W) uint8 array as a tiled, compressed GeoTIFF.

    Args:
        path: output file.
        array: pixel values.
        transform: affine transform of the grid.
        crs: coordinate reference system.
    """
    data = array[None] if array.ndim == 2 else array
    profile = {
        **_PROFILE,
        "count": data.shape[0],
        "height": data.shape[1],
        "width": data.shape[2],
        "dtype": "uint8",
        "crs": CRS.from_user_input(crs),
        "transform": transform,
    }
    if data.shape[0] == 3:
        profile["photometric"] = "RGB"
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if data.shape[0] == 3:
            dst.descriptions = ("red", "green", "blue")


def write_scene(
    root: Path,
    name: str,
    image: np.ndarray,
    masks: Mapping[str, np.ndarray],
    transform: Affine,
    crs: CRS | str,
) -> None:
    """Write one scene's image and label rasters on the same grid.

    Args:
        root: dataset folder.
        name: scene name (file stem).
        image: (3, H, W) uint8 RGB.
        masks: kind -> (H, W) uint8 0/1 (kinds of :data:`MASK_KINDS`).
        transform: affine transform of the grid.
        crs: coordinate reference system.
    """
    write_geotiff(image_path(root, name), image, transform, crs)
    for kind, mask in masks.items():
        write_geotiff(mask_path(root, name, kind), mask.astype(np.uint8), transform, crs)


def write_splits(root: Path, splits: Mapping[str, list[str]], **info: Any) -> None:
    """Write ``splits.json`` with the scene names of each split and provenance fields.

    It also states ``ignore_index``: in a layout roadkd wrote, 255 in a mask always means
    "unknown", so ``evaluate`` never has to guess it from a mask's values.
    """
    document: dict[str, Any] = {split: list(splits.get(split, [])) for split in SPLITS}
    document["ignore_index"] = IGNORE_INDEX
    document.update(info)
    (root / "splits.json").write_text(json.dumps(document, indent=2) + "\n")


def read_splits(root: str | Path) -> dict[str, Any]:
    """Read and check ``splits.json`` of a dataset folder.

    Args:
        root: dataset folder.

    Returns:
        The parsed document; every split key is present (possibly empty).

    Raises:
        RoadkdError: if the folder, the file or a scene it names is missing, or it is not JSON.
    """
    folder = Path(root)
    if not folder.is_dir():
        raise RoadkdError(f"dataset folder not found: {folder}")
    path = folder / "splits.json"
    if not path.is_file():
        raise RoadkdError(
            f"{path} not found: make a dataset with `roadkd data synth` or `roadkd data roadnet`"
        )
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RoadkdError(f"{path} is not valid JSON: {err}") from err
    for split in SPLITS:
        document.setdefault(split, [])
        for scene in document[split]:
            if not image_path(folder, scene).is_file():
                raise RoadkdError(
                    f"{path} names scene {scene!r} but {image_path(folder, scene)} is missing"
                )
            if split != "unlabeled" and not mask_path(folder, scene).is_file():
                raise RoadkdError(
                    f"{path} names scene {scene!r} but {mask_path(folder, scene)} is missing"
                )
    return document


def check_new_dataset_folder(target: Path) -> None:
    """Refuse an output folder that exists with content; create missing parent folders.

    Raises:
        RoadkdError: if ``target`` is a file or a non-empty folder, or its parent cannot
            be made or written.
    """
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise RoadkdError(f"output folder {target} exists and is not empty")
    blocking = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise RoadkdError(f"cannot create {target}: {blocking} is a file, not a folder")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RoadkdError(f"cannot create {target.parent}: {err.strerror}") from err
    if not os.access(target.parent, os.W_OK):
        raise RoadkdError(f"cannot create {target}: folder {target.parent} is not writable")
    check_replaceable(target, "output folder", folder=True)


@contextlib.contextmanager
def staged_dataset(target: Path) -> Iterator[Path]:
    """Yield a hidden staging folder beside ``target``, renamed onto it on success.

    A failed or interrupted run removes the staging folder, so a dataset folder is either
    complete or absent, never half-written; the staging folder of a killed run is removed
    by the next run writing beside it.

    Raises:
        RoadkdError: if the folder cannot be made or a file in it cannot be written.
    """
    check_new_dataset_folder(target)
    remove_stale(target.parent, PARTIAL_PREFIX)
    try:
        staging = Path(
            tempfile.mkdtemp(
                prefix=f"{PARTIAL_PREFIX}{os.getpid()}-{target.name}.", dir=target.parent
            )
        )
    except OSError as err:
        raise RoadkdError(f"cannot create {target}: {err.strerror}") from err
    try:
        yield staging
        check_replaceable(target, "output folder", folder=True)
        os.rename(staging, target)  # one rename, onto nothing or an empty folder
    except OSError as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise RoadkdError(f"cannot write {target}: {err.strerror or err}") from err
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def dataset_resolution_m(root: str | Path) -> float:
    """Ground resolution of a dataset, in metres per pixel, measured on its rasters.

    Every scene's imagery is measured on the ground (:func:`roadkd.ground.ground_resolution_m`,
    right in feet and degrees too); they must agree within 1 %. If ``splits.json`` states
    ``resolution_m`` it must agree with the rasters too, and is returned (the nominal value
    rather than its geodesic measure, e.g. 0.21 for 0.2099 in UTM).

    Args:
        root: dataset folder.

    Returns:
        Metres per pixel.

    Raises:
        RoadkdError: if the scenes disagree, or disagree with ``splits.json``, or none exists.
    """
    splits = read_splits(root)
    scenes = list(dict.fromkeys(s for split in SPLITS for s in splits[split]))
    if not scenes:
        raise RoadkdError(f"{Path(root) / 'splits.json'} names no scene: its resolution is unknown")
    measured: dict[str, float] = {}
    for scene in scenes:
        with open_raster(image_path(Path(root), scene), "image", georeferenced=False) as src:
            measured[scene] = ground_resolution_m(src.transform, src.crs, (src.height, src.width))
    low, high = min(measured.values()), max(measured.values())
    if high > low * (1 + SAME_RESOLUTION_TOLERANCE):
        listing = ", ".join(f"{k} {v:.4g}" for k, v in measured.items())
        raise RoadkdError(
            f"the scenes of {root} differ in resolution ({listing} m/px): bring them to one "
            "resolution first"
        )
    stated = splits.get("resolution_m")
    if stated is None:
        return round(float(np.median(list(measured.values()))), 4)
    if abs(float(stated) / low - 1) > SAME_RESOLUTION_TOLERANCE:
        raise RoadkdError(
            f"{Path(root) / 'splits.json'} states resolution_m {stated} but its rasters are "
            f"{low:.4g} m/px"
        )
    return float(stated)
