"""``roadkd predict`` as a library call: scenes -> probability rasters -> road vectors."""

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from ..errors import RoadkdError
from ..grid import Grid
from ..imagery import Log, ReadOptions, ScenePlan
from ..inference import load_backend
from ..inference.backends import Backend, check_model_runs
from ..inference.predict import (
    SceneSummary,
    check_scene,
    check_tiling,
    default_overlap,
    predict_scene,
)
from ..io import OutputPlan, reading, scratch_folder
from ..progress import Progress, report_stage
from ..vectorize import (
    DEFAULT_BLOCK,
    RoadVectors,
    VectorizeOptions,
    default_workers,
    layer_names,
    write_layers,
)
from ..vectorize.confidence import with_confidence
from ..vectorize.mosaic import (
    MosaicVectorizer,
    write_mosaic,
)
from ..vectorize.stream import StreamVectorizer
from .cluster import predict_on_cluster
from .networks import mosaic_grid, plans_share_grid
from .outputs import block_folder, expand_scenes, plan_outputs, unique_scenes
from .preview import write_preview


@dataclass
class PredictResult:
    """What ``roadkd predict`` produced."""

    scenes: list[SceneSummary] = field(default_factory=list)
    centerlines: gpd.GeoDataFrame | None = None
    surface: gpd.GeoDataFrame | None = None
    seconds: float = 0.0
    repeats: list[Path] = field(default_factory=list)
    blocks: int = 0
    workers: int = 0

    @property
    def area_km2(self) -> float:
        """Area covered by all scenes."""
        return sum(s.area_km2 for s in self.scenes)

    @property
    def megapixels(self) -> float:
        """Pixels in all scenes, in millions."""
        return sum(s.width * s.height for s in self.scenes) / 1e6

    @property
    def n_lines(self) -> int:
        """Number of centreline features."""
        return 0 if self.centerlines is None else len(self.centerlines)

    @property
    def road_km(self) -> float:
        """Total centreline length."""
        return 0.0 if self.centerlines is None else float(self.centerlines["length_m"].sum()) / 1000


def _merge(frames: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Concatenate layers in the first layer's CRS."""
    crs = frames[0].crs
    merged = pd.concat([f.to_crs(crs) for f in frames], ignore_index=True)
    return gpd.GeoDataFrame(merged, geometry="geometry", crs=crs)


def predict_and_vectorize(
    scene: Path,
    backend: Backend,
    prob_path: Path,
    tiling: tuple[int, int, int],
    options: VectorizeOptions | None,
    block: int | None,
    workers: int,
    progress: bool | Progress,
    read_plan: ScenePlan,
) -> tuple[SceneSummary, RoadVectors]:
    """Predict one scene and vectorise its finished bands while inference goes on.

    The network stays in this process; rows of blocks go to ``workers`` processes as
    soon as their rows are final, and the pieces are stitched when the scene is done.

    Args:
        scene: the scene.
        backend: the model.
        prob_path: where the probability GeoTIFF goes.
        tiling: (tile, overlap, batch size).
        options: vectorisation settings.
        block: vectorisation block side in pixels.
        workers: vectorisation processes (1: in this process, between bands).
        progress: show the tile progress bar.
        read_plan: how the scene is read (its grid is the probability's).

    Returns:
        The scene's summary and its vectors.
    """
    start = time.perf_counter()
    tile, overlap, batch_size = tiling
    grid = Grid.of(read_plan.transform, read_plan.crs, (read_plan.height, read_plan.width))
    with StreamVectorizer(grid, options, block, workers) as stream:
        summary = predict_scene(
            scene,
            backend,
            prob_path,
            tile,
            overlap,
            batch_size,
            progress,
            plan=read_plan,
            on_rows=stream.push,
        )
        report_stage(progress, "stitch")
        vectors = stream.finish()
    vectors.work = stream.summary(time.perf_counter() - start)
    return summary, vectors


def predict_mosaic(
    scenes: list[Path],
    backend: Backend,
    prob_paths: list[Path],
    vrt: Path,
    tiling: tuple[int, int, int],
    options: VectorizeOptions | None,
    block: int | None,
    workers: int,
    progress: bool | Progress,
    read_plans: list[ScenePlan],
) -> tuple[list[SceneSummary], RoadVectors]:
    """Predict adjacent scenes on one grid and vectorise them as one network.

    Scenes are predicted one after another; each block of their mosaic is vectorised by
    the ``workers`` as soon as the scenes under it are written, while the next scene is
    predicted. The probability rasters are mosaicked by a VRT (kept as ``vrt``).

    Returns:
        Each scene's summary and the vectors of all of them.
    """
    tile, overlap, batch_size = tiling
    grid, places = mosaic_grid(read_plans)
    summaries = []
    with MosaicVectorizer(grid, places, options, block, workers) as mosaic:
        for k, (scene, prob_path, plan) in enumerate(
            zip(scenes, prob_paths, read_plans, strict=True)
        ):
            summaries.append(
                predict_scene(
                    scene, backend, prob_path, tile, overlap, batch_size, progress, plan=plan
                )
            )
            mosaic.finished(k, prob_path)
        vectors = mosaic.finish()
    write_mosaic(prob_paths, vrt)
    return summaries, vectors


def _count_work(result: PredictResult, vectors: RoadVectors) -> None:
    """Add a vectorisation's blocks and workers to the result's summary."""
    if vectors.work is not None:
        result.blocks += vectors.work.blocks
        result.workers = max(result.workers, vectors.work.workers)


def _scenes_to_vectors(
    scenes: list[Path],
    backend: Backend,
    model: str | Path,
    device: str,
    prob_paths: list[Path],
    read_plans: list[ScenePlan],
    tiling: tuple[int, int, int],
    vectorize_args: tuple[VectorizeOptions | None, int | None, int, bool | Progress],
    scheduler: str | None,
    scratch: Path,
    result: PredictResult,
) -> Iterator[tuple[Path, RoadVectors, Path]]:
    """Predict the scenes and vectorise them: on a cluster, as one mosaic, or one by one.

    Appends each scene's summary to ``result`` and yields (scene, its vectors, the
    probability raster they came from) for each network.
    """
    options, block, workers, progress = vectorize_args
    if scheduler is not None:
        summaries, networks = predict_on_cluster(
            scenes, Path(model), device, prob_paths, tiling, options, block, scheduler,
            progress, read_plans,
        )  # fmt: skip
        result.scenes.extend(summaries)
        for network in networks:
            if len(network.scenes) == 1:
                k = network.scenes[0]
                yield scenes[k], network.vectors, prob_paths[k]
            else:
                vrt = write_mosaic(prob_paths, scratch / "probability.vrt")
                yield scenes[0], network.vectors, vrt
    elif len(scenes) > 1 and plans_share_grid(read_plans):
        vrt = scratch / "probability.vrt"
        with contextlib.ExitStack() as stack:
            for scene in scenes:
                stack.enter_context(reading(scene, "scene"))
            summaries, vectors = predict_mosaic(
                scenes, backend, prob_paths, vrt, tiling, options, block, workers, progress,
                read_plans,
            )  # fmt: skip
        result.scenes.extend(summaries)
        yield scenes[0], vectors, vrt
    else:
        for scene, prob_path, read_plan in zip(scenes, prob_paths, read_plans, strict=True):
            with reading(scene, "scene"):
                summary, vectors = predict_and_vectorize(
                    scene, backend, prob_path, tiling, options, block, workers, progress,
                    read_plan,
                )  # fmt: skip
            result.scenes.append(summary)
            yield scene, vectors, prob_path


def default_predict_workers(backend: Backend) -> int:
    """Vectorising processes of ``predict`` when none are asked for.

    On a GPU, one per core, so that vectorisation keeps up with the device. On the CPU the
    model's threads already use every core: processes vectorising beside them slow the
    model down more than they add (oversubscribed threads wait for each other at every
    parallel step), so bands are vectorised in this process between batches
    (``benchmarks/predict_throughput.py``: 0.93x the bare forward pass, 0.68x with two
    processes on two cores).
    """
    return 1 if backend.device.type == "cpu" else default_workers()


def _stage_probabilities(
    plan: OutputPlan, prob_paths: list[Path], out: Path, scheduler: str | None
) -> list[Path]:
    """Where the probability rasters are written until the outputs are moved into place.

    On a cluster, the blocks of each scene's VRT go into the folder beside it; without
    ``--prob``, into a staged folder beside ``out`` (removed at the end), which the
    workers must be able to write, as they must ``--prob``.
    """
    if scheduler is None:
        return [plan.stage(p) if p in plan.targets else p for p in prob_paths]
    if not any(p in plan.targets for p in prob_paths):
        return [plan.stage(out).parent / "probability" / p.name for p in prob_paths]
    for path in prob_paths:
        plan.stage(block_folder(path))
    return [plan.stage(p) for p in prob_paths]


def run_predict(
    inputs: list[str | Path],
    model: str | Path,
    out: str | Path,
    prob: str | Path | None = None,
    polygons: str | Path | None = None,
    preview: str | Path | None = None,
    tile: int | None = None,
    overlap: int | None = None,
    batch_size: int = 4,
    device: str = "auto",
    options: VectorizeOptions | None = None,
    progress: bool | Progress = False,
    layer: str | None = None,
    read_options: ReadOptions | None = None,
    log: Log | None = None,
    block: int | None = DEFAULT_BLOCK,
    workers: int | None = None,
    scheduler: str | None = None,
) -> PredictResult:
    """Detect roads in scenes and write centrelines (and optionally surfaces).

    Vectors of several scenes are merged into one output, in the first scene's CRS
    (GeoJSON is always WGS84). Everything is checked before any work starts; a scene
    given twice is read once. Outputs are staged and moved into place only when all of
    them are written: a failed run leaves every existing file as it was.

    Args:
        inputs: scene files or folders of scenes (any GDAL raster, e.g. GeoTIFF or VRT).
        model: a roadkd checkpoint or ONNX export.
        out: centreline output (.geojson, .gpkg or .shp).
        prob: probability GeoTIFF (one scene) or folder (several); default: not kept. With
            ``scheduler``: each scene's ``<stem>_probability.vrt`` over its folder of
            block GeoTIFFs (``<stem>_probability/``), or a ``.vrt`` for one scene.
        polygons: optional road surface output.
        preview: optional PNG of the first scene with the roads drawn over it.
        tile: tile side in pixels (default: the model's training tile).
        overlap: pixels shared by neighbouring tiles (default: an eighth of the tile).
        batch_size: tiles per forward pass.
        device: "auto", "cpu" or "cuda".
        options: vectorisation settings.
        progress: show progress bars.
        layer: GeoPackage layer name of the centrelines (surfaces: ``<layer>_surface``);
            default ``centerlines`` and ``surface``. Other layers of an existing
            GeoPackage are kept.
        read_options: bands, scaling and resolution choices (:mod:`roadkd.imagery`).
        log: receives how each scene is read (bands, scaling, resampling) and warnings.
        block: vectorisation block side in pixels (None: a scene in one piece).
        workers: processes vectorising finished bands while inference goes on (default:
            one per core when the model runs on a GPU; 1, in this process between bands,
            when it runs on the CPU, whose every core its threads already use).
        scheduler: a Dask scheduler's address: scenes are predicted and vectorised block
            by block on its workers, which must see the scenes and the model, and write
            the probability blocks (under ``prob``, a folder or ``.vrt`` file, else beside
            ``out``) at the same paths as this process.

    Returns:
        Summaries and the merged layers.
    """
    start = time.perf_counter()
    scenes, repeats = unique_scenes(expand_scenes(inputs))
    names = layer_names(layer)
    with scratch_folder("predict") as scratch:
        plan, prob_paths = plan_outputs(
            scenes,
            Path(model),
            Path(out),
            Path(prob) if prob is not None else None,
            Path(polygons) if polygons is not None else None,
            Path(preview) if preview is not None else None,
            Path(scratch),
            blocks=scheduler is not None,
        )
        backend = load_backend(model, device)
        if workers is None:
            workers = default_predict_workers(backend)
        tile_size = tile or backend.tile_size
        overlap = default_overlap(tile_size) if overlap is None else overlap
        check_tiling(tile_size, overlap)
        if batch_size < 1:
            raise RoadkdError(f"--batch-size must be at least 1, got {batch_size}")
        check_model_runs(backend, tile_size, model)
        read_plans = [check_scene(scene, backend, read_options, log) for scene in scenes]
        result = PredictResult(repeats=repeats)
        lines, surfaces = [], []
        with plan:
            staged_paths = _stage_probabilities(plan, prob_paths, Path(out), scheduler)
            tiling = (tile_size, overlap, batch_size)
            vectorize_args = (options, block, workers, progress)
            for scene, vectors, probability in _scenes_to_vectors(
                scenes, backend, model, device, staged_paths, read_plans, tiling,
                vectorize_args, scheduler, Path(scratch), result,
            ):  # fmt: skip
                report_stage(progress, "confidence")
                vectors = with_confidence(vectors, probability)
                _count_work(result, vectors)
                lines.append(vectors.centerlines)
                surfaces.append(vectors.surface)
                if preview is not None and len(lines) == 1:
                    with reading(scene, "scene"):
                        write_preview(
                            scene,
                            vectors.centerlines,
                            plan.stage(Path(preview)),
                            probability,
                            plan=read_plans[0],
                        )
            for summary, prob_path in zip(result.scenes, prob_paths, strict=True):
                summary.probability = prob_path
            result.centerlines = _merge(lines)
            result.surface = _merge(surfaces)
            layers = {"centerlines": result.centerlines, "surface": result.surface}
            report_stage(progress, "write")
            write_layers(plan.stage(Path(out)), layers, names)
            if polygons is not None:
                write_layers(plan.stage(Path(polygons)), {"surface": result.surface}, names)
    result.seconds = time.perf_counter() - start
    return result
