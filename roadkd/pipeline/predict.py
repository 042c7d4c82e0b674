"""``roadkd predict`` as a library call: scenes -> probability rasters -> road vectors."""

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from ..errors import RoadkdError
from ..imagery import Log, ReadOptions
from ..inference import load_backend
from ..inference.predict import (
    SceneSummary,
    check_scene,
    check_tiling,
    default_overlap,
    predict_scene,
)
from ..vectorize import VectorizeOptions, vectorize_raster, write_vectors
from .preview import write_preview

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img", ".jp2")


@dataclass
class PredictResult:
    """What ``roadkd predict`` produced."""

    scenes: list[SceneSummary] = field(default_factory=list)
    centerlines: gpd.GeoDataFrame | None = None
    surface: gpd.GeoDataFrame | None = None
    seconds: float = 0.0

    @property
    def area_km2(self) -> float:
        """Area covered by all scenes."""
        return sum(s.area_km2 for s in self.scenes)

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
    read_options: ReadOptions | None = None,
    log: Log | None = None,
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
        read_options: bands, scaling and resolution choices (:mod:`roadkd.imagery`).
        log: receives how each scene is read (bands, scaling, resampling) and warnings.

    Returns:
        Summaries and the merged layers.
    """
    start = time.perf_counter()
    scenes = expand_scenes(inputs)
    backend = load_backend(model, device)
    tile_size = tile or backend.tile_size
    overlap = default_overlap(tile_size) if overlap is None else overlap
    check_tiling(tile_size, overlap)
    plans = [check_scene(scene, backend, read_options, log) for scene in scenes]
    for target in (out, polygons, preview):
        if target is not None and not Path(target).parent.resolve().is_dir():
            raise RoadkdError(f"cannot write {target}: folder {Path(target).parent} does not exist")
    result = PredictResult()
    lines, surfaces = [], []
    with tempfile.TemporaryDirectory(prefix="roadkd-") as scratch:
        for scene, plan in zip(scenes, plans, strict=True):
            prob_path = _probability_path(
                Path(prob) if prob else None, scene, len(scenes), Path(scratch)
            )
            summary = predict_scene(
                scene,
                backend,
                prob_path,
                tile_size,
                overlap,
                batch_size,
                progress,
                plan=plan,
            )
            result.scenes.append(summary)
            vectors = vectorize_raster(prob_path, options)
            lines.append(vectors.centerlines)
            surfaces.append(vectors.surface)
            if preview is not None and len(result.scenes) == 1:
                write_preview(scene, vectors.centerlines, preview, prob_path, plan=plan)
    result.centerlines = _merge(lines)
    result.surface = _merge(surfaces)
    write_vectors(out, {"centerlines": result.centerlines, "surface": result.surface})
    if polygons is not None:
        write_vectors(polygons, {"surface": result.surface})
    result.seconds = time.perf_counter() - start
    return result
