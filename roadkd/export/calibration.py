"""Tiles of the user's own imagery to calibrate an int8 model on, and to check it against.

Calibration sets the range of every activation of a quantised network, so its tiles must
look like what the model will see: they are read through :class:`roadkd.imagery.SceneReader`
with the model's bands, resolution and input percentiles, exactly as ``predict`` reads a
scene. The source is a dataset folder in roadkd's layout (its train, val and unlabeled
scenes; the test scenes stay unseen) or the user's scenes (files or folders of rasters).

Tiles come from a grid of whole, non-overlapping tiles of each scene, drawn at random with
a fixed seed, the scenes in turn so that each gives its share; tiles mostly outside a scene
or nodata are passed over. A third of them (up to :data:`CHECK_TILES`) is held out to
compare the quantised model with the float one; no held-out tile is a calibration tile.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from ..datasets.layout import image_path, read_splits
from ..errors import RoadkdError
from ..imagery import ReadOptions, ScenePlan, SceneReader
from ..models.deploy import DeployBundle

#: Tiles the activation ranges are measured on.
CALIBRATION_TILES = 64
#: Held-out tiles the quantised model is compared with the float model on.
CHECK_TILES = 32
#: Fewer usable tiles than this cannot both calibrate and check a model.
MIN_TILES = 6
#: Share of a tile's pixels that must be valid (inside the scene, not nodata).
MIN_VALID = 0.9


@dataclass(frozen=True)
class ImageryTiles:
    """Tiles of raw 0-255 pixels on the model's grid.

    Attributes:
        calibration: float32 (n, bands, tile, tile) tiles to calibrate on.
        check: float32 (m, bands, tile, tile) held-out tiles.
        check_valid: bool (m, tile, tile), the held-out tiles' valid pixels.
        scenes: how many scenes the tiles came from.
    """

    calibration: np.ndarray
    check: np.ndarray
    check_valid: np.ndarray
    scenes: int


def calibration_scenes(sources: Sequence[str | Path]) -> list[Path]:
    """The scenes named by ``--calibration``: a dataset folder's, or rasters and folders.

    Args:
        sources: dataset folders (with ``splits.json``), raster files or folders of rasters.

    Returns:
        The scenes, each once.

    Raises:
        RoadkdError: if nothing is given, a path is missing, a folder holds no raster, or a
            dataset has no scene outside its test split.
    """
    from ..pipeline.outputs import expand_scenes, unique_scenes

    if not sources:
        raise RoadkdError(
            "an int8 model needs calibration imagery: --calibration DATASET_OR_SCENES"
        )
    scenes: list[Path] = []
    for source in map(Path, sources):
        if not source.exists():
            raise RoadkdError(f"calibration data not found: {source}")
        if (source / "splits.json").is_file():
            splits = read_splits(source)
            names = [*splits["train"], *splits["val"], *splits["unlabeled"]]
            if not names:
                raise RoadkdError(f"{source / 'splits.json'} names no scene outside its test split")
            scenes.extend(image_path(source, name) for name in names)
        else:
            scenes.extend(expand_scenes([source]))
    return unique_scenes(scenes)[0]


def _grid_windows(plan: ScenePlan, tile: int) -> list[Window]:
    """The whole, non-overlapping tiles of a scene's grid."""
    return [
        Window(col, row, tile, tile)
        for row in range(0, plan.height - tile + 1, tile)
        for col in range(0, plan.width - tile + 1, tile)
    ]


def draw_tiles(
    scenes: Sequence[Path],
    bundle: DeployBundle,
    tile: int,
    options: ReadOptions | None = None,
    seed: int = 0,
) -> ImageryTiles:
    """Draw calibration and held-out tiles from scenes, read as ``predict`` reads them.

    Every scene is checked (readable, with the model's bands, at a usable resolution)
    before any tile is read.

    Args:
        scenes: the scenes (see :func:`calibration_scenes`).
        bundle: the model whose bands, resolution and input percentiles the tiles take.
        tile: tile side in pixels.
        options: the user's choices of bands, scaling and resolution.
        seed: seed of the draw.

    Returns:
        The tiles.

    Raises:
        RoadkdError: naming the scene that cannot be read for the model (e.g. too few
            bands), or if the scenes give fewer than :data:`MIN_TILES` usable tiles.
    """
    plans = [_plan(scene, bundle, options) for scene in scenes]
    rng = np.random.default_rng(seed)
    wanted = CALIBRATION_TILES + CHECK_TILES
    tiles: list[np.ndarray] = []
    valid: list[np.ndarray] = []
    used = 0
    order = rng.permutation(len(scenes))
    for turn, k in enumerate(order):
        share = math.ceil((wanted - len(tiles)) / (len(order) - turn))
        windows = _grid_windows(plans[k], tile)
        taken = 0
        with SceneReader(
            scenes[k], bundle.config.in_channels, bundle.resolution_m, plan=plans[k]
        ) as reader:
            for index in rng.permutation(len(windows)):
                pixels, mask = reader.read(windows[index])
                if mask.mean() >= MIN_VALID:
                    tiles.append(pixels)
                    valid.append(mask)
                    taken += 1
                    if taken == share:
                        break
        used += taken > 0
        if len(tiles) == wanted:
            break
    if len(tiles) < MIN_TILES:
        raise RoadkdError(
            f"the calibration imagery gives {len(tiles)} usable tiles of {tile} px (whole "
            f"tiles, {MIN_VALID:.0%} of their pixels valid) and at least {MIN_TILES} are "
            "needed: give more or larger scenes"
        )
    n_check = min(CHECK_TILES, len(tiles) // 3)
    order = rng.permutation(len(tiles))
    check, calibration = order[:n_check], order[n_check:]
    return ImageryTiles(
        calibration=np.stack([tiles[i] for i in calibration]),
        check=np.stack([tiles[i] for i in check]),
        check_valid=np.stack([valid[i] for i in check]),
        scenes=used,
    )


def _plan(scene: Path, bundle: DeployBundle, options: ReadOptions | None) -> ScenePlan:
    """How a calibration scene is read for the model (refused with the scene's name)."""
    try:
        with SceneReader(
            scene,
            bundle.config.in_channels,
            bundle.resolution_m,
            options,
            training_percentiles=bundle.input_percentiles,
        ) as reader:
            return reader.plan
    except RoadkdError as err:
        named = str(scene) in str(err) or scene.name in str(err)
        raise RoadkdError(f"calibration {'imagery' if named else f'scene {scene}'}: {err}") from err
