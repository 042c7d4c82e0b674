"""The cluster producer of ``roadkd predict --scheduler``: scenes predicted block by block.

Each block of each scene (the vectoriser's block grid of the scene) is predicted by a Dask
worker, which writes it as a GeoTIFF into the folder beside the scene's VRT
(``block_folder``). Each written block is a place of the network that is complete at once:
the network's blocks over it are vectorised by the workers as soon as every probability
block under their windows is written, and the pieces are stitched by the client. Workers
read the scenes and the model, and write the blocks, at the same paths as the client (a
shared filesystem, or GDAL paths such as ``/vsis3/...`` for the scenes). A lost worker's
blocks are computed again.
"""

import functools
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..grid import Grid, PixelWindow
from ..imagery import ScenePlan, SceneReader
from ..inference import load_backend
from ..inference.backends import Backend
from ..inference.predict import Tiling
from ..inference.window import predict_region, write_probability_block
from ..vectorize import VectorizeOptions
from ..vectorize.blocks import plan_blocks
from ..vectorize.cluster import placement
from ..vectorize.engine import Vectorizer
from ..vectorize.mosaic import write_mosaic
from .networks import SceneNetwork
from .outputs import block_file, block_folder

if TYPE_CHECKING:
    from distributed import Client


@functools.lru_cache(maxsize=2)
def _worker_backend(model: str, device: str) -> Backend:
    """A worker's model, loaded once per worker process and kept for its next blocks."""
    return load_backend(model, device)


def _predict_block_task(
    scene: str, model: str, device: str, read_plan: ScenePlan, tiling: Tiling, core: PixelWindow,
    path: str,
) -> str:  # fmt: skip
    """One block of a scene on a Dask worker: its probability, written at ``path``.

    The worker reads the block (with the halo its tiles reach) and the model from paths it
    can see. The block is written under a name of its own and renamed into place, so a
    block computed twice (a worker thought lost) is never seen half-written.

    Returns:
        ``path``.
    """
    backend = _worker_backend(model, device)
    resolution_m = backend.data.resolution_m
    with SceneReader(scene, backend.in_channels, resolution_m, plan=read_plan) as reader:
        probability = predict_region(
            reader, backend, core, tiling.tile, tiling.overlap, tiling.batch_size
        )
    target = Path(path)
    partial = target.with_name(f".{target.stem}-{uuid.uuid4().hex}.tif")
    try:
        corner = core.transform(read_plan.transform)
        write_probability_block(str(partial), probability, corner, read_plan.crs)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return path


@dataclass
class _ProbabilityBlock:
    """A block of a scene's probability: its scene, file, window in the scene and in the network."""

    scene: int
    path: Path
    core: PixelWindow
    place: PixelWindow


@dataclass
class ClusterProducer:
    """Predicts a network's scenes block by block on Dask workers.

    Attributes:
        network: the scenes; each one's probability VRT is written over its blocks.
        model: the model file, which the workers load.
        device: the workers' device ("auto": a GPU if the worker has one).
        tiling: how scenes are tiled.
        block: block side in pixels (None: a scene in one block).
        options: vectorisation settings (the blocks' halo).
        client: the Dask client.
    """

    network: SceneNetwork
    model: Path
    device: str
    tiling: Tiling
    block: int | None
    options: VectorizeOptions
    client: "Client"
    blocks: list[_ProbabilityBlock] = field(init=False)

    def __post_init__(self) -> None:
        """Plan each scene's probability blocks, placed in the network's grid."""
        self.blocks = []
        network = self.network
        scenes = zip(network.probabilities, network.plans, network.places, strict=True)
        for k, (vrt, plan, at) in enumerate(scenes):
            grid = Grid.of(plan.transform, plan.crs, (plan.height, plan.width))
            folder = block_folder(vrt)
            for b in plan_blocks(grid, self.block, self.options):
                path = folder / block_file(b.core.row, b.core.col)
                self.blocks.append(
                    _ProbabilityBlock(k, path, b.core, b.core.shifted(at.row, at.col))
                )

    @property
    def places(self) -> list[PixelWindow]:
        """One place per probability block."""
        return [b.place for b in self.blocks]

    def run(self, vectorizer: Vectorizer) -> list[float]:
        """Predict every block on the cluster, completing its place as it is written.

        Returns:
            Each scene's seconds: from the start until its last block was written.
        """
        from distributed import as_completed

        start = time.perf_counter()
        resources, _ = placement(self.client)
        model = str(self.model.resolve())
        for vrt in self.network.probabilities:
            block_folder(vrt).mkdir(parents=True, exist_ok=True)
        futures: dict[Any, int] = {}
        for place, b in enumerate(self.blocks):
            scene, plan = self.network.scenes[b.scene], self.network.plans[b.scene]
            future = self.client.submit(
                _predict_block_task, str(scene.resolve()), model, self.device, plan,
                self.tiling, b.core, str(b.path.resolve()), pure=True, resources=resources,
            )  # fmt: skip
            futures[future] = place
        left = [sum(b.scene == k for b in self.blocks) for k in range(len(self.network.scenes))]
        seconds = [0.0] * len(left)
        for future in as_completed(list(futures), loop=self.client.loop):
            path = future.result()
            place = futures.pop(future)
            future.release()
            vectorizer.finished(place, path)
            owner = self.blocks[place].scene
            left[owner] -= 1
            if not left[owner]:
                seconds[owner] = time.perf_counter() - start
        for k, vrt in enumerate(self.network.probabilities):
            write_mosaic([b.path for b in self.blocks if b.scene == k], vrt, relative=True)
        return seconds
