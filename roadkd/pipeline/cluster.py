"""``roadkd predict --scheduler``: scenes predicted and vectorised block by block on Dask."""

import functools
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..grid import Grid, PixelWindow
from ..imagery import ScenePlan, SceneReader
from ..inference import load_backend
from ..inference.backends import Backend
from ..inference.predict import SceneSummary
from ..inference.window import predict_region, write_probability_block
from ..progress import Progress
from ..vectorize import RoadVectors, VectorizeOptions
from ..vectorize.blocks import Block, plan_blocks
from ..vectorize.mosaic import vectorize_sources, write_mosaic
from ..vectorize.result import WorkSummary
from ..vectorize.run import in_block_order
from ..vectorize.stitch import assemble
from .networks import mosaic_grid, plans_share_grid
from .outputs import block_file, block_folder


@functools.lru_cache(maxsize=2)
def _worker_backend(model: str, device: str) -> Backend:
    """A worker's model, loaded once per worker process and kept for its next blocks."""
    return load_backend(model, device)


def _predict_block_task(
    scene: str,
    model: str,
    device: str,
    read_plan: ScenePlan,
    tiling: tuple[int, int, int],
    core: PixelWindow,
    path: str,
) -> str:
    """One block of a scene on a Dask worker: its probability, written at ``path``.

    The worker reads the block (with the halo its tiles reach) and the model from paths it
    can see. The block is written under a name of its own and renamed into place, so a
    block computed twice (a worker thought lost) is never seen half-written.

    Returns:
        ``path``.
    """
    tile, overlap, batch_size = tiling
    backend = _worker_backend(model, device)
    with SceneReader(scene, backend.in_channels, backend.resolution_m, plan=read_plan) as reader:
        probability = predict_region(reader, backend, core, tile, overlap, batch_size)
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
class ClusterNetwork:
    """Vectors of scenes predicted on a cluster that form one network.

    Attributes:
        scenes: indices of the scenes (one, or all when they share a grid).
        vectors: their vectors.
    """

    scenes: list[int]
    vectors: RoadVectors


def predict_on_cluster(
    scenes: list[Path],
    model: Path,
    device: str,
    vrts: list[Path],
    tiling: tuple[int, int, int],
    options: VectorizeOptions | None,
    block: int | None,
    scheduler: str,
    progress: bool | Progress,
    read_plans: list[ScenePlan],
) -> tuple[list[SceneSummary], list[ClusterNetwork]]:
    """Predict and vectorise scenes block by block on a Dask cluster.

    Each block of each scene (the vectoriser's block grid) is predicted by a worker, which
    writes it as a GeoTIFF into the folder beside the scene's VRT (``block_folder``);
    each block of the network (one scene, or the mosaic of scenes on one grid) is
    vectorised by a worker as soon as the probability blocks under its window are
    written, and the pieces are stitched here. Workers read the scenes and the model, and
    write the blocks, at the same paths as this client (a shared filesystem, or GDAL paths
    such as ``/vsis3/...`` for the scenes). A lost worker's blocks are computed again.

    Args:
        scenes: the scenes.
        model: the model file.
        device: the workers' device ("auto": a GPU if the worker has one).
        vrts: where each scene's probability VRT goes (its blocks beside it).
        tiling: (tile, overlap, batch size).
        options: vectorisation settings.
        block: block side in pixels (None: a scene in one block).
        scheduler: the Dask scheduler's address.
        progress: show a progress bar of vectorised blocks.
        read_plans: how each scene is read.

    Returns:
        Each scene's summary, and the networks.
    """
    from ..vectorize.cluster import (
        cluster_workers,
        connect,
        placement,
        run_blocks_on_cluster,
    )

    start = time.perf_counter()
    opts = options or VectorizeOptions()
    model_path = str(model.resolve())
    tiles: list[list[tuple[Block, Path]]] = []
    networks: list[ClusterNetwork] = []
    with connect(scheduler) as client:
        resources, vectorizers = placement(client)
        futures: list[list[Any]] = []
        for scene, vrt, plan in zip(scenes, vrts, read_plans, strict=True):
            folder = block_folder(vrt)
            folder.mkdir(parents=True, exist_ok=True)
            grid = Grid.of(plan.transform, plan.crs, (plan.height, plan.width))
            scene_tiles = [
                (b, folder / block_file(*b.core[:2])) for b in plan_blocks(grid, block, opts)
            ]
            tiles.append(scene_tiles)
            futures.append(
                [
                    client.submit(
                        _predict_block_task,
                        str(scene.resolve()),
                        model_path,
                        device,
                        plan,
                        tiling,
                        b.core,
                        str(path.resolve()),
                        pure=True,
                        resources=resources,
                    )
                    for b, path in scene_tiles
                ]
            )
        one_network = len(scenes) > 1 and plans_share_grid(read_plans)
        groups = [list(range(len(scenes)))] if one_network else [[k] for k in range(len(scenes))]
        for group in groups:
            grid, places = mosaic_grid([read_plans[k] for k in group])
            sources = [
                (future, b.core.shifted(place.row, place.col))
                for k, place in zip(group, places, strict=True)
                for (b, _), future in zip(tiles[k], futures[k], strict=True)
            ]
            blocks = plan_blocks(grid, block, opts)
            tasks = (
                (b, grid, opts, [s for s in sources if b.window.overlaps(s[1])]) for b in blocks
            )
            pieces = in_block_order(
                run_blocks_on_cluster(
                    client, vectorize_sources, tasks, progress, len(blocks), vectorizers
                )
            )
            vectors = assemble(pieces, grid, opts)
            vectors.work = WorkSummary(
                len(blocks), cluster_workers(client), grid.megapixels, time.perf_counter() - start
            )
            networks.append(ClusterNetwork(group, vectors))
    # Every probability block is written: each lies under some block that was vectorised.
    seconds = time.perf_counter() - start
    summaries = []
    for scene, vrt, plan, scene_tiles in zip(scenes, vrts, read_plans, tiles, strict=True):
        write_mosaic([path for _, path in scene_tiles], vrt, relative=True)
        summaries.append(
            SceneSummary(scene, vrt, plan.width, plan.height, plan.area_km2, seconds, plan)
        )
    return summaries, networks
