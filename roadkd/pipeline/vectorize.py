"""``roadkd vectorize`` as a library call: probability or mask rasters -> road vectors."""

from pathlib import Path

from ..formats import VECTOR_OUTPUTS
from ..io import OutputPlan, reading
from ..progress import Progress
from ..vectorize import (
    DEFAULT_BLOCK,
    RoadVectors,
    VectorizeOptions,
    default_workers,
    layer_names,
    vectorize_raster,
    write_layers,
)
from ..vectorize.confidence import with_confidence
from ..vectorize.mosaic import mosaic_of


def run_vectorize(
    rasters: list[str | Path],
    out: str | Path,
    polygons: str | Path | None = None,
    layer: str | None = None,
    options: VectorizeOptions | None = None,
    block: int | None = DEFAULT_BLOCK,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool | Progress = False,
) -> RoadVectors:
    """Vectorise rasters and write centrelines (and optionally surfaces), with confidence.

    Several adjacent rasters on one grid (tiles of one mosaic) give one seamless network.
    Every output is checked before the (long) vectorisation, and written only when all of
    them are: a failed run leaves every existing file as it was.

    Args:
        rasters: probability or mask rasters (band 1; 0/1 and 0/255 masks work as they are).
        out: centreline output (.geojson, .gpkg, .shp or .parquet).
        polygons: optional road surface output.
        layer: GeoPackage layer name of the centrelines (surfaces: ``<layer>_surface``).
        options: vectorisation settings.
        block: block side in pixels (None: the whole raster as one block).
        workers: processes vectorising blocks (None: one per core).
        scheduler: a Dask scheduler's address, whose workers must see the rasters.
        progress: report blocks done (True: a bar on stderr).

    Returns:
        The vectors written (with how the work ran).

    Raises:
        RoadkdError: for a bad input or output, or rasters not on one grid.
    """
    paths = [Path(raster) for raster in rasters]
    plan = OutputPlan()
    for raster in paths:
        plan.add_input(raster, "input raster")
    plan.add(Path(out), "--out", VECTOR_OUTPUTS)
    if polygons is not None:
        plan.add(Path(polygons), "--polygons", VECTOR_OUTPUTS)
    names = layer_names(layer)
    with mosaic_of(paths) as raster, reading(raster):
        vectors = vectorize_raster(
            raster, options, block, workers or default_workers(), progress, scheduler
        )
        vectors = with_confidence(vectors, raster)
    with plan:
        layers = {"centerlines": vectors.centerlines, "surface": vectors.surface}
        write_layers(plan.stage(Path(out)), layers, names)
        if polygons is not None:
            write_layers(plan.stage(Path(polygons)), {"surface": vectors.surface}, names)
    return vectors
