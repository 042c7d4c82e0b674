"""What ``roadkd predict`` reads and writes, decided before any work.

Scenes are expanded and de-duplicated; every output is checked (format, folder, never an
input or another output) and staged by an :class:`~roadkd.io.OutputPlan`.
"""

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..errors import RoadkdError
from ..formats import PREVIEW, PROBABILITY, PROBABILITY_BLOCKS, SCENES, VECTOR_OUTPUTS
from ..io import OutputPlan, same_file

#: File names of probability blocks: the block's top-left pixel in the scene.
BLOCK_FILE = re.compile(r"row\d+_col\d+\.tif(\.aux\.xml)?")


def block_folder(vrt: Path) -> Path:
    """The folder holding the blocks of a probability VRT: its name without ``.vrt``."""
    return vrt.with_suffix("")


def block_file(row: int, col: int) -> str:
    """File name of the probability block whose top-left pixel is (row, col)."""
    return f"row{row:06d}_col{col:06d}.tif"


def check_block_folder(folder: Path) -> None:
    """Refuse to replace a folder that holds anything but probability blocks.

    Raises:
        RoadkdError: if ``folder`` exists and holds other files.
    """
    if not folder.is_dir():
        return
    others = [p.name for p in folder.iterdir() if not BLOCK_FILE.fullmatch(p.name)]
    if others:
        raise RoadkdError(
            f"--prob: {folder} would be replaced by probability blocks but holds other "
            f"files ({', '.join(sorted(others)[:3])}); move them or choose another --prob"
        )


def expand_scenes(inputs: list[str | Path]) -> list[Path]:
    """Expand folders into the rasters they hold; keep files as given.

    Raises:
        RoadkdError: if nothing is given or a folder holds no raster.
    """
    scenes: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in SCENES)
            if not found:
                raise RoadkdError(f"folder {item} holds no raster ({', '.join(SCENES)})")
            scenes.extend(found)
        else:
            scenes.append(item)
    if not scenes:
        raise RoadkdError("no scene given")
    return scenes


def unique_scenes(scenes: list[Path]) -> tuple[list[Path], list[Path]]:
    """Drop scenes given more than once (the same file by any spelling or link).

    A scene read twice would double every road in the merged output.

    Returns:
        The scenes to read, in the order given, and the repeats dropped.
    """
    kept: list[Path] = []
    repeats: list[Path] = []
    for scene in scenes:
        if any(same_file(scene, seen) for seen in kept):
            repeats.append(scene)
        else:
            kept.append(scene)
    return kept, repeats


def probability_names(scenes: list[Path]) -> list[str]:
    """File names of the scenes' probability rasters, distinct for distinct scenes.

    ``<stem>_probability.tif``; scenes sharing a stem (``a.tif`` and ``a.vrt``) keep their
    extension in the name (``a_tif_probability.tif``, ``a_vrt_probability.tif``).

    Raises:
        RoadkdError: if two scenes still get the same name (the same file name in two
            folders).
    """
    stems = Counter(scene.stem for scene in scenes)
    names = [
        f"{s.stem}_probability.tif"
        if stems[s.stem] == 1
        else f"{s.stem}_{s.suffix.lstrip('.').lower()}_probability.tif"
        for s in scenes
    ]
    clashes = [n for n, count in Counter(names).items() if count > 1]
    if clashes:
        same = [str(s) for s, n in zip(scenes, names, strict=True) if n == clashes[0]]
        raise RoadkdError(
            f"scenes {', '.join(same)} would share the probability file {clashes[0]}; "
            "rename one, or run them separately"
        )
    return names


def plan_probabilities(
    plan: OutputPlan, prob: Path | None, scenes: list[Path], scratch: Path, blocks: bool = False
) -> list[Path]:
    """Where each scene's probability raster goes; the kept ones are added to ``plan``.

    ``--prob`` is a ``.tif``/``.tiff`` file for one scene, a folder (existing, or a name
    without extension) for one or more. With ``blocks`` (predicted on a cluster) each
    scene's probability is a VRT (``<stem>_probability.vrt``, or ``--prob`` a ``.vrt``
    file for one scene) over the folder of its blocks beside it (the same name without
    ``.vrt``), both planned.

    Raises:
        RoadkdError: for a probability output of another format, a file for several
            scenes, or a folder of blocks that would replace other files.
    """
    names = probability_names(scenes)
    suffixes = PROBABILITY_BLOCKS if blocks else PROBABILITY
    if blocks:
        names = [str(Path(name).with_suffix(".vrt")) for name in names]
    if prob is None:
        return [scratch / name for name in names]
    if prob.suffix and not prob.is_dir():
        if len(scenes) > 1:
            raise RoadkdError(
                f"--prob {prob}: {len(scenes)} scenes need a folder for their probability "
                "rasters, not one file"
            )
        if blocks and prob.suffix.lower() != ".vrt":
            raise RoadkdError(
                f"--prob {prob}: on a cluster the probability is a VRT over a folder of "
                "blocks; give --prob a folder or a .vrt file"
            )
        paths = [plan.add(prob, "--prob", suffixes)]
    else:
        paths = [plan.add(prob / name, "--prob", suffixes, make_folder=True) for name in names]
    if blocks:
        for path in paths:
            check_block_folder(block_folder(path))
            plan.add(block_folder(path), "--prob", make_folder=True, folder=True)
    return paths


@dataclass(frozen=True)
class PredictOutputs:
    """What ``roadkd predict`` writes.

    Attributes:
        out: centreline output (.geojson, .gpkg, .shp or .parquet).
        prob: probability GeoTIFF (one scene) or folder (several); None: not kept. On a
            cluster: each scene's ``<stem>_probability.vrt`` over its folder of block
            GeoTIFFs (``<stem>_probability/``), or a ``.vrt`` for one scene.
        polygons: road surface output.
        preview: PNG of the first scene with the roads drawn over it.
        layer: GeoPackage layer name of the centrelines (surfaces: ``<layer>_surface``);
            None: ``centerlines`` and ``surface``. Other layers of an existing GeoPackage
            are kept.
    """

    out: Path
    prob: Path | None = None
    polygons: Path | None = None
    preview: Path | None = None
    layer: str | None = None

    @classmethod
    def of(cls, outputs: "PredictOutputs | str | Path") -> "PredictOutputs":
        """``outputs`` as they are, or a centreline path alone."""
        return outputs if isinstance(outputs, PredictOutputs) else cls(Path(outputs))


def plan_outputs(
    scenes: list[Path], model: Path, outputs: PredictOutputs, scratch: Path, blocks: bool = False
) -> tuple[OutputPlan, list[Path]]:
    """Check every output of ``run_predict`` before any work.

    ``blocks``: the probability is predicted block by block on a cluster
    (:func:`plan_probabilities`).

    Returns:
        The plan and each scene's probability path (planned, or in ``scratch``).

    Raises:
        RoadkdError: for an output of a format roadkd does not write there, in a missing
            or unwritable folder, or that is an input (a scene, the model) or another output.
    """
    plan = OutputPlan()
    for scene in scenes:
        plan.add_input(scene, "input scene")
    plan.add_input(model, "model")
    plan.add(Path(outputs.out), "--out", VECTOR_OUTPUTS)
    if outputs.polygons is not None:
        plan.add(Path(outputs.polygons), "--polygons", VECTOR_OUTPUTS)
    if outputs.preview is not None:
        plan.add(Path(outputs.preview), "--preview", PREVIEW)
    prob = None if outputs.prob is None else Path(outputs.prob)
    return plan, plan_probabilities(plan, prob, scenes, scratch, blocks)
