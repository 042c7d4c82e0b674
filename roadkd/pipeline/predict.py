"""``roadkd predict`` as a library call: scenes -> probability rasters -> road vectors."""

import functools
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import rasterio

from ..errors import RoadkdError
from ..inference import load_backend
from ..inference.backends import Backend
from ..inference.predict import (
    SceneSummary,
    check_scene,
    check_tiling,
    default_overlap,
    predict_scene,
)
from ..vectorize import (
    DEFAULT_BLOCK,
    RoadVectors,
    VectorizeOptions,
    vectorize_raster,
    write_vectors,
)
from ..vectorize.blocks import SceneGrid
from ..vectorize.mosaic import share_grid, vectorize_mosaic
from ..vectorize.stream import StreamVectorizer
from .preview import write_preview

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img", ".jp2")


@dataclass
class PredictResult:
    """What ``roadkd predict`` produced."""

    scenes: list[SceneSummary] = field(default_factory=list)
    centerlines: gpd.GeoDataFrame | None = None
    surface: gpd.GeoDataFrame | None = None
    seconds: float = 0.0
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


def expand_scenes(inputs: list[str | Path]) -> list[Path]:
    """Expand folders into the rasters they hold; keep files as given.

    Raises:
        RoadkdError: if nothing is given or a folder holds no raster.
    """
    scenes: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in RASTER_SUFFIXES)
            if not found:
                raise RoadkdError(f"folder {item} holds no raster ({', '.join(RASTER_SUFFIXES)})")
            scenes.extend(found)
        else:
            scenes.append(item)
    if not scenes:
        raise RoadkdError("no scene given")
    return scenes


def _probability_path(prob: Path | None, scene: Path, n_scenes: int, scratch: Path) -> Path:
    if prob is None:
        return scratch / f"{scene.stem}_probability.tif"
    if n_scenes == 1 and prob.suffix:
        return prob
    prob.mkdir(parents=True, exist_ok=True)
    return prob / f"{scene.stem}_probability.tif"


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
    progress: bool,
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

    Returns:
        The scene's summary and its vectors.
    """
    start = time.perf_counter()
    tile, overlap, batch_size = tiling
    with rasterio.open(scene) as src:
        grid = SceneGrid.of(src.transform, src.crs, (src.height, src.width))
    with StreamVectorizer(grid, options, block, workers) as stream:
        summary = predict_scene(
            scene, backend, prob_path, tile, overlap, batch_size, progress, on_rows=stream.push
        )
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
    progress: bool,
) -> tuple[list[SceneSummary], RoadVectors]:
    """Predict adjacent scenes on one grid, then vectorise them as one network.

    Their probability rasters are mosaicked by a VRT (kept beside them as ``vrt``), whose
    blocks read across scene borders, so roads that cross them are joined.

    Returns:
        Each scene's summary and the vectors of all of them.
    """
    tile, overlap, batch_size = tiling
    summaries = [
        predict_scene(scene, backend, prob_path, tile, overlap, batch_size, progress)
        for scene, prob_path in zip(scenes, prob_paths, strict=True)
    ]
    vectors = vectorize_mosaic(prob_paths, options, block, workers, progress, vrt=vrt)
    return summaries, vectors


@functools.lru_cache(maxsize=2)
def _worker_backend(model: str, device: str) -> Backend:
    """A worker's model, loaded once per worker process and kept for its next scenes."""
    return load_backend(model, device)


def _predict_scene_task(
    scene: Path, model: str, device: str, prob_path: Path, tiling: tuple[int, int, int]
) -> SceneSummary:
    """One scene on a Dask worker: the model and scene read from paths it can see."""
    tile, overlap, batch_size = tiling
    return predict_scene(
        scene, _worker_backend(model, device), prob_path, tile, overlap, batch_size
    )


def predict_on_cluster(
    scenes: list[Path],
    model: Path,
    device: str,
    prob_paths: list[Path],
    vrt: Path,
    tiling: tuple[int, int, int],
    options: VectorizeOptions | None,
    block: int | None,
    scheduler: str,
    progress: bool,
) -> tuple[list[SceneSummary], list[RoadVectors]]:
    """Predict whole scenes on a Dask cluster, then vectorise their blocks there too.

    Workers read the scenes and the model, and write the probability rasters, at the
    same paths as this client (a shared filesystem). Scenes on one grid are vectorised
    as one network through the ``vrt`` mosaic; others one by one.

    Returns:
        Each scene's summary, and the vectors (one entry, or one per scene).
    """
    from ..vectorize.cluster import connect

    with connect(scheduler) as client:
        futures = [
            client.submit(
                _predict_scene_task, scene.resolve(), str(model.resolve()), device, path, tiling
            )
            for scene, path in zip(scenes, prob_paths, strict=True)
        ]
        summaries: list[SceneSummary] = client.gather(futures)
    if len(scenes) == 1 or share_grid(scenes):
        mosaic = vectorize_mosaic(prob_paths, options, block, 1, progress, scheduler, vrt=vrt)
        return summaries, [mosaic]
    return summaries, [
        vectorize_raster(path, options, block, 1, progress, scheduler) for path in prob_paths
    ]


def _count_work(result: PredictResult, vectors: RoadVectors) -> None:
    """Add a vectorisation's blocks and workers to the result's summary."""
    if vectors.work is not None:
        result.blocks += vectors.work.blocks
        result.workers = max(result.workers, vectors.work.workers)


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
    progress: bool = False,
    block: int | None = DEFAULT_BLOCK,
    workers: int = 1,
    scheduler: str | None = None,
) -> PredictResult:
    """Detect roads in scenes and write centrelines (and optionally surfaces).

    Vectors of several scenes are merged into one output, in the first scene's CRS
    (GeoJSON is always WGS84). Everything is checked before any work starts.

    Args:
        inputs: scene files or folders of scenes (any GDAL raster, e.g. GeoTIFF or VRT).
        model: a roadkd checkpoint or ONNX export.
        out: centreline output (.geojson, .gpkg or .shp).
        prob: probability GeoTIFF (one scene) or folder (several); default: not kept.
        polygons: optional road surface output.
        preview: optional PNG of the first scene with the roads drawn over it.
        tile: tile side in pixels (default: the model's training tile).
        overlap: pixels shared by neighbouring tiles (default: an eighth of the tile).
        batch_size: tiles per forward pass.
        device: "auto", "cpu" or "cuda".
        options: vectorisation settings.
        progress: show progress bars.
        block: vectorisation block side in pixels (None: a scene in one piece).
        workers: processes vectorising finished bands while inference goes on.
        scheduler: a Dask scheduler's address: scenes are predicted and vectorised on its
            workers, which must see the scenes, the model and ``prob`` (required).

    Returns:
        Summaries and the merged layers.
    """
    start = time.perf_counter()
    scenes = expand_scenes(inputs)
    backend = load_backend(model, device)
    tile_size = tile or backend.tile_size
    overlap = default_overlap(tile_size) if overlap is None else overlap
    check_tiling(tile_size, overlap)
    for scene in scenes:
        check_scene(scene, backend.in_channels)
    for target in (out, polygons, preview):
        if target is not None and not Path(target).parent.resolve().is_dir():
            raise RoadkdError(f"cannot write {target}: folder {Path(target).parent} does not exist")
    result = PredictResult()
    lines, surfaces = [], []
    with tempfile.TemporaryDirectory(prefix="roadkd-") as scratch:
        # Scenes on one grid (tiles of one mosaic) are vectorised as one network.
        one_grid = len(scenes) > 1 and share_grid(scenes)
        prob_paths = [
            _probability_path(Path(prob) if prob else None, scene, len(scenes), Path(scratch))
            for scene in scenes
        ]
        if scheduler is not None:
            if prob is None:
                raise RoadkdError("--scheduler needs --prob: a folder the Dask workers can see")
            result.scenes, parts = predict_on_cluster(
                scenes,
                Path(model),
                device,
                [path.resolve() for path in prob_paths],
                prob_paths[0].resolve().parent / "probability.vrt",
                (tile_size, overlap, batch_size),
                options,
                block,
                scheduler,
                progress,
            )
            for vectors in parts:
                _count_work(result, vectors)
                lines.append(vectors.centerlines)
                surfaces.append(vectors.surface)
            if preview is not None:
                write_preview(scenes[0], parts[0].centerlines, preview, prob_paths[0])
        elif one_grid:
            vrt = (Path(prob) if prob else Path(scratch)) / "probability.vrt"
            result.scenes, vectors = predict_mosaic(
                scenes,
                backend,
                prob_paths,
                vrt,
                (tile_size, overlap, batch_size),
                options,
                block,
                workers,
                progress,
            )
            _count_work(result, vectors)
            lines.append(vectors.centerlines)
            surfaces.append(vectors.surface)
            if preview is not None:
                write_preview(scenes[0], vectors.centerlines, preview, prob_paths[0])
        local = scheduler is None and not one_grid
        for scene, prob_path in zip(scenes, prob_paths, strict=True) if local else []:
            summary, vectors = predict_and_vectorize(
                scene,
                backend,
                prob_path,
                (tile_size, overlap, batch_size),
                options,
                block,
                workers,
                progress,
            )
            result.scenes.append(summary)
            _count_work(result, vectors)
            lines.append(vectors.centerlines)
            surfaces.append(vectors.surface)
            if preview is not None and len(result.scenes) == 1:
                write_preview(scene, vectors.centerlines, preview, prob_path)
    result.centerlines = _merge(lines)
    result.surface = _merge(surfaces)
    write_vectors(out, {"centerlines": result.centerlines, "surface": result.surface})
    if polygons is not None:
        write_vectors(polygons, {"surface": result.surface})
    result.seconds = time.perf_counter() - start
    return result
