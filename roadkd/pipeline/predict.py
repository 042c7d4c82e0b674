"""``roadkd predict`` as a library call: scenes -> probability rasters -> road vectors.

Scenes are grouped by grid into networks (:mod:`.networks`); for each network a producer
makes the probability (here, :mod:`.local`, or on a Dask cluster, :mod:`.cluster`) and the
one vectoriser (:mod:`roadkd.vectorize.engine`) turns it into vectors block by block as it
comes. The networks' layers are then merged and written, all outputs or none.
"""

import bisect
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from ..imagery import Log, ReadOptions
from ..inference import load_backend
from ..inference.backends import Backend, check_model_runs, inference_threads
from ..inference.predict import SceneSummary, Tiling, check_scene
from ..io import OutputPlan, reading, scratch_folder
from ..progress import Progress, report_stage
from ..vectorize import (
    DEFAULT_BLOCK,
    RoadVectors,
    VectorizeOptions,
    WorkSummary,
    layer_names,
    write_layers,
)
from ..vectorize.cluster import DaskExecutor, cluster_executor
from ..vectorize.confidence import with_confidence
from ..vectorize.executors import default_workers
from ..vectorize.mosaic import write_mosaic
from .cluster import ClusterProducer
from .local import LocalProducer
from .networks import Producer, SceneNetwork, group_scenes, vectorize_network
from .outputs import PredictOutputs, block_folder, expand_scenes, plan_outputs, unique_scenes
from .preview import write_preview


@dataclass(frozen=True)
class PredictSettings:
    """How ``roadkd predict`` runs (every field has the command's default).

    Attributes:
        tile: tile side in pixels (None: the model's training tile).
        overlap: pixels shared by neighbouring tiles (None: an eighth of the tile).
        batch_size: tiles per forward pass.
        device: "auto", "cpu" or "cuda".
        options: vectorisation settings.
        read_options: bands, scaling and resolution choices (:mod:`roadkd.imagery`).
        block: vectorisation block side in pixels (None: a scene in one piece).
        workers: processes vectorising finished bands while inference goes on (None:
            :func:`default_predict_workers`).
        scheduler: a Dask scheduler's address: scenes are predicted and vectorised block
            by block on its workers, which must see the scenes and the model, and write
            the probability blocks (under ``prob``, a folder or ``.vrt`` file, else beside
            ``out``) at the same paths as this process.
    """

    tile: int | None = None
    overlap: int | None = None
    batch_size: int = 4
    device: str = "auto"
    options: VectorizeOptions = field(default_factory=VectorizeOptions)
    read_options: ReadOptions | None = None
    block: int | None = DEFAULT_BLOCK
    workers: int | None = None
    scheduler: str | None = None


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
    _indices: list[int] = field(default_factory=list, repr=False)  # of ``scenes`` in the run

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

    def add(
        self, network: SceneNetwork, work: WorkSummary | None, seconds: list[float],
        probabilities: list[Path],
    ) -> None:  # fmt: skip
        """Add a network's scenes, in the run's order, and its blocks and workers.

        Args:
            network: the network.
            work: how its vectorisation ran.
            seconds: each of its scenes' seconds.
            probabilities: where every scene's probability ends up, by scene index.
        """
        for k, plan, scene_seconds in zip(network.indices, network.plans, seconds, strict=True):
            at = bisect.bisect(self._indices, k)
            self._indices.insert(at, k)
            self.scenes.insert(
                at,
                SceneSummary(
                    plan.path, probabilities[k], plan.width, plan.height, plan.area_km2,
                    scene_seconds, plan,
                ),
            )  # fmt: skip
        if work is not None:
            self.blocks += work.blocks
            self.workers = max(self.workers, work.workers)


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


def _merge(frames: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Concatenate layers in the first layer's CRS."""
    crs = frames[0].crs
    merged = pd.concat([f.to_crs(crs) for f in frames], ignore_index=True)
    return gpd.GeoDataFrame(merged, geometry="geometry", crs=crs)


@dataclass
class _Job:
    """What every network of a ``run_predict`` shares."""

    model: Path
    backend: Backend
    tiling: Tiling
    settings: PredictSettings
    workers: int
    progress: bool | Progress
    scratch: Path
    cluster: DaskExecutor | None

    def producer(self, network: SceneNetwork) -> Producer:
        """Inference here, or block by block on the cluster."""
        if self.cluster is None:
            return LocalProducer(network, self.backend, self.tiling, self.progress)
        settings = self.settings
        return ClusterProducer(
            network, self.model, settings.device, self.tiling, settings.block, settings.options,
            self.cluster.client,
        )  # fmt: skip

    def vectors(self, network: SceneNetwork) -> tuple[RoadVectors, Path, list[float]]:
        """A network's vectors with confidence, the raster they came from, scene seconds."""
        vectors, seconds = vectorize_network(
            network, self.producer(network), self.settings.options, self.settings.block,
            self.cluster, self.workers, self.progress,
        )  # fmt: skip
        probability = network.probabilities[0]
        if len(network.scenes) > 1:
            vrt = self.scratch / f"probability_{network.indices[0]}.vrt"
            probability = write_mosaic(list(network.probabilities), vrt)
        report_stage(self.progress, "confidence")
        return with_confidence(vectors, probability), probability, seconds


def run_predict(
    inputs: list[str | Path],
    model: str | Path,
    outputs: PredictOutputs | str | Path,
    settings: PredictSettings | None = None,
    progress: bool | Progress = False,
    log: Log | None = None,
) -> PredictResult:
    """Detect roads in scenes and write centrelines (and optionally surfaces).

    Vectors of several scenes are merged into one output, in the first scene's CRS
    (GeoJSON is always WGS84); scenes on one grid are one network, joined across their
    borders. Everything is checked before any work starts; a scene given twice is read
    once. Outputs are staged and moved into place only when all of them are written: a
    failed run leaves every existing file as it was.

    Args:
        inputs: scene files or folders of scenes (any GDAL raster, e.g. GeoTIFF or VRT).
        model: a roadkd checkpoint or ONNX export.
        outputs: what to write (a path alone: the centrelines).
        settings: tiling, device, vectorisation, reading and block settings.
        progress: report tiles and blocks done (True: bars on stderr).
        log: receives how each scene is read (bands, scaling, resampling) and warnings.

    Returns:
        Summaries and the merged layers.
    """
    start = time.perf_counter()
    settings = settings or PredictSettings()
    outputs = PredictOutputs.of(outputs)
    scenes, repeats = unique_scenes(expand_scenes(inputs))
    names = layer_names(outputs.layer)
    on_cluster = settings.scheduler is not None
    with scratch_folder("predict") as scratch:
        plan, prob_paths = plan_outputs(scenes, Path(model), outputs, Path(scratch), on_cluster)
        backend = load_backend(model, settings.device, inference_threads(settings.workers))
        workers = settings.workers or default_predict_workers(backend)
        tiling = Tiling.choose(backend, settings.tile, settings.overlap, settings.batch_size)
        check_model_runs(backend, tiling.tile, model)
        if log is not None:
            log(f"model {Path(model).name}: {backend.describe()}")
        read_plans = [check_scene(s, backend, settings.read_options, log) for s in scenes]
        with plan, contextlib.ExitStack() as stack:
            staged = _stage_probabilities(plan, prob_paths, Path(outputs.out), settings.scheduler)
            cluster = None
            if settings.scheduler is not None:
                cluster = stack.enter_context(cluster_executor(settings.scheduler))
            job = _Job(
                Path(model), backend, tiling, settings, workers, progress, Path(scratch), cluster
            )
            networks = group_scenes(scenes, read_plans, staged)
            made = [(network, *job.vectors(network)) for network in networks]
            if outputs.preview is not None:
                _, first, probability, _ = made[0]
                with reading(scenes[0], "scene"):
                    preview = plan.stage(Path(outputs.preview))
                    write_preview(
                        scenes[0], first.centerlines, preview, probability, plan=read_plans[0]
                    )
            result = PredictResult(repeats=repeats)
            for network, vectors, _, seconds in made:
                result.add(network, vectors.work, seconds, prob_paths)
            result.centerlines = _merge([vectors.centerlines for _, vectors, _, _ in made])
            result.surface = _merge([vectors.surface for _, vectors, _, _ in made])
            layers = {"centerlines": result.centerlines, "surface": result.surface}
            report_stage(progress, "write")
            write_layers(plan.stage(Path(outputs.out)), layers, names)
            if outputs.polygons is not None:
                write_layers(plan.stage(Path(outputs.polygons)), {"surface": result.surface}, names)
    result.seconds = time.perf_counter() - start
    return result
