"""Which scenes form one road network, and how a network is vectorised.

Scenes read onto one pixel grid (tiles of one orthomosaic) are vectorised as one network,
so that roads crossing their borders are joined as across block seams; scenes on other
grids form networks of their own. A producer (here, :mod:`.local`, or on a Dask cluster,
:mod:`.cluster`) makes a network's probability and completes its places on the one
vectoriser (:mod:`roadkd.vectorize.engine`), which vectorises the blocks as they are ready.
"""

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from affine import Affine

from ..grid import Grid, PixelWindow
from ..imagery import ScenePlan
from ..progress import Progress, report_stage
from ..vectorize import RoadVectors, VectorizeOptions
from ..vectorize.engine import Network, Vectorizer
from ..vectorize.executors import Executor, local_executor
from ..vectorize.mosaic import grids_align, place_grids


@dataclass(frozen=True)
class SceneNetwork:
    """Scenes vectorised as one network: one scene, or scenes read onto one grid.

    Attributes:
        indices: the scenes' positions among the run's scenes.
        scenes: the scene files.
        plans: how each scene is read.
        probabilities: where each scene's probability raster is written.
        grid: the network's grid (the scene's, or their mosaic's).
        places: each scene's window in that grid.
    """

    indices: tuple[int, ...]
    scenes: tuple[Path, ...]
    plans: tuple[ScenePlan, ...]
    probabilities: tuple[Path, ...]
    grid: Grid
    places: tuple[PixelWindow, ...]


def _grid_of(plan: ScenePlan) -> tuple[Affine, object, int, int]:
    """A scene's grid as ``place_grids`` takes it: (transform, CRS, width, height)."""
    return plan.transform, plan.crs, plan.width, plan.height


def mosaic_grid(read_plans: list[ScenePlan]) -> tuple[Grid, list[PixelWindow]]:
    """The grid of scenes read onto one grid, and each scene's place in it.

    One scene is its own grid (even a rotated one, which no mosaic takes).
    """
    if len(read_plans) == 1:
        plan = read_plans[0]
        grid = Grid.of(plan.transform, plan.crs, (plan.height, plan.width))
        return grid, [grid.window]
    transform, places = place_grids([_grid_of(p) for p in read_plans])
    height = max(place.bottom for place in places)
    width = max(place.right for place in places)
    return Grid.of(transform, read_plans[0].crs, (height, width)), places


def group_scenes(
    scenes: list[Path], read_plans: list[ScenePlan], probabilities: list[Path]
) -> list[SceneNetwork]:
    """Group scenes by grid: each scene joins the first network whose grid it shares.

    Networks are in the order of their first scene, and scenes in each in the order given.
    """
    groups: list[list[int]] = []
    for k, plan in enumerate(read_plans):
        for group in groups:
            if grids_align([_grid_of(read_plans[group[0]]), _grid_of(plan)]):
                group.append(k)
                break
        else:
            groups.append([k])
    networks = []
    for group in groups:
        plans = [read_plans[k] for k in group]
        grid, places = mosaic_grid(plans)
        networks.append(
            SceneNetwork(
                tuple(group),
                tuple(scenes[k] for k in group),
                tuple(plans),
                tuple(probabilities[k] for k in group),
                grid,
                tuple(places),
            )
        )
    return networks


class Producer(Protocol):
    """Makes a network's probability and completes its places on the vectoriser."""

    @property
    def places(self) -> list[PixelWindow]:
        """The windows of the network's grid it completes."""

    def run(self, vectorizer: Vectorizer) -> list[float]:
        """Make the probability, completing every place; each scene's seconds."""


def vectorize_network(
    network: SceneNetwork,
    producer: Producer,
    options: VectorizeOptions,
    block: int | None,
    executor: Executor | None = None,
    workers: int = 1,
    progress: bool | Progress = False,
) -> tuple[RoadVectors, list[float]]:
    """Run a network's producer into the vectoriser.

    Args:
        network: the scenes.
        producer: makes their probability.
        options: vectorisation settings.
        block: block side in pixels (None: the network in one block).
        executor: where blocks are vectorised (None: here, or in ``workers`` processes).
        workers: local processes, without ``executor``.
        progress: report blocks done.

    Returns:
        The network's vectors, and each scene's seconds.
    """
    blocks = Network.plan(network.grid, block, options, producer.places)
    with contextlib.ExitStack() as stack:
        if executor is None:
            executor = stack.enter_context(local_executor(workers, len(blocks.blocks)))
        vectorizer = stack.enter_context(Vectorizer(blocks, executor, options, progress))
        seconds = producer.run(vectorizer)
        report_stage(progress, "stitch")  # the last blocks and the seams
        return vectorizer.finish(), seconds
