"""Which scenes form one road network, and the grid of their mosaic.

Scenes read onto one pixel grid (tiles of one orthomosaic) are vectorised as one network,
so that roads crossing their borders are joined as across block seams; any other scene is
a network of its own.
"""

from ..grid import Grid, PixelWindow
from ..imagery import ScenePlan
from ..vectorize.mosaic import grids_align, place_grids


def mosaic_grid(read_plans: list[ScenePlan]) -> tuple[Grid, list[PixelWindow]]:
    """The grid of the mosaic of scenes read onto one grid, and each scene's place in it."""
    transform, places = place_grids([(p.transform, p.crs, p.width, p.height) for p in read_plans])
    height = max(place.bottom for place in places)
    width = max(place.right for place in places)
    return Grid.of(transform, read_plans[0].crs, (height, width)), places


def plans_share_grid(read_plans: list[ScenePlan]) -> bool:
    """Whether scenes are read onto one grid, so that their roads can be one network."""
    return grids_align([(p.transform, p.crs, p.width, p.height) for p in read_plans])
