"""The local producer of ``roadkd predict``: tiled inference in this process.

A network of one scene streams its probability rows into the vectoriser as tiled
inference writes them, so blocks are vectorised while the next bands are predicted and
memory holds the rows of one row of blocks. Scenes of a mosaic are predicted one after
another; each is a place that is complete once its raster is written, and the blocks over
it (and over its finished neighbours) go to the vectoriser at once.
"""

from dataclasses import dataclass
from pathlib import Path

from ..errors import RoadkdError
from ..grid import PixelWindow
from ..imagery import ScenePlan
from ..inference.backends import Backend
from ..inference.predict import SceneSummary, Tiling, check_scene, predict_scene
from ..io import reading
from ..progress import Progress
from ..vectorize import DEFAULT_BLOCK, RoadVectors, VectorizeOptions
from ..vectorize.engine import Vectorizer
from ..vectorize.mosaic import write_mosaic
from .networks import SceneNetwork, group_scenes, vectorize_network


@dataclass
class LocalProducer:
    """Predicts a network's scenes here and hands their probability to the vectoriser.

    Attributes:
        network: the scenes.
        backend: the model.
        tiling: how scenes are tiled.
        progress: where tiles done are counted.
    """

    network: SceneNetwork
    backend: Backend
    tiling: Tiling
    progress: bool | Progress = False

    @property
    def places(self) -> list[PixelWindow]:
        """One place per scene: its window in the network's grid."""
        return list(self.network.places)

    def run(self, vectorizer: Vectorizer) -> list[float]:
        """Predict every scene, completing its place; each scene's seconds."""
        streamed = len(self.network.scenes) == 1
        seconds = []
        for place, (scene, probability, plan) in enumerate(
            zip(self.network.scenes, self.network.probabilities, self.network.plans, strict=True)
        ):
            with reading(scene, "scene"):
                summary = predict_scene(
                    scene,
                    self.backend,
                    probability,
                    self.tiling.tile,
                    self.tiling.overlap,
                    self.tiling.batch_size,
                    self.progress,
                    plan=plan,
                    on_rows=vectorizer.push if streamed else None,
                )
            if not streamed:
                vectorizer.finished(place, probability)
            seconds.append(summary.seconds)
        return seconds


def predict_scenes(
    scenes: list[Path],
    backend: Backend,
    probabilities: list[Path],
    tiling: Tiling,
    options: VectorizeOptions | None = None,
    block: int | None = DEFAULT_BLOCK,
    workers: int = 1,
    progress: bool | Progress = False,
    read_plans: list[ScenePlan] | None = None,
    vrt: Path | None = None,
) -> tuple[list[SceneSummary], RoadVectors]:
    """Predict one scene, or adjacent scenes on one grid, here; vectorise them as one network.

    The library call for a model already in memory (``run_predict`` loads one, checks and
    writes outputs, and runs several networks).

    Args:
        scenes: the scenes.
        backend: the model.
        probabilities: where each scene's probability GeoTIFF goes.
        tiling: how scenes are tiled.
        options: vectorisation settings.
        block: vectorisation block side in pixels (None: the network in one block).
        workers: vectorisation processes (1: here, between bands).
        progress: report tiles and blocks done.
        read_plans: how each scene is read (default: as the model needs, checked here).
        vrt: where to write the VRT mosaic of several scenes' probabilities (None: none).

    Returns:
        Each scene's summary, and the network's vectors.

    Raises:
        RoadkdError: if the scenes are not on one grid.
    """
    plans = read_plans or [check_scene(scene, backend) for scene in scenes]
    networks = group_scenes(scenes, plans, probabilities)
    if len(networks) != 1:
        raise RoadkdError("the scenes are not on one grid: predict them as separate networks")
    opts = options or VectorizeOptions()
    producer = LocalProducer(networks[0], backend, tiling, progress)
    vectors, seconds = vectorize_network(
        networks[0], producer, opts, block, workers=workers, progress=progress
    )
    if vrt is not None and len(scenes) > 1:
        write_mosaic(probabilities, vrt)
    summaries = [
        SceneSummary(p.path, prob, p.width, p.height, p.area_km2, s, p)
        for p, prob, s in zip(plans, probabilities, seconds, strict=True)
    ]
    return summaries, vectors
