"""`roadkd vectorize`: road probability or mask raster -> road vectors."""

from pathlib import Path

import click

from roadkd.vectorize.options import VectorizeOptions

from .options import (
    METRES,
    check_gpkg_layer,
    layer_option,
    progress_options,
    progress_report,
    scale_options,
    threshold_option,
)


@click.command()
@click.argument("rasters", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Centrelines: .geojson (WGS84 lon/lat), .gpkg (with a surface layer), .shp or "
    ".parquet (GeoParquet; native CRS).",
)
@click.option(
    "--polygons",
    type=click.Path(path_type=Path),
    help="Also write road surface polygons (.geojson, .gpkg or .shp).",
)
@layer_option
@threshold_option("Road at or above this probability (0/1 and 0/255 masks work as they are).")
@click.option(
    "--min-spur-m",
    type=METRES,
    default=VectorizeOptions.min_spur_m,
    show_default=True,
    help="Prune dead-end branches shorter than this off junctions.",
)
@click.option(
    "--bridge-m",
    type=METRES,
    default=VectorizeOptions.bridge_m,
    show_default=True,
    help="Join facing dead ends closer than this (roads under trees, shadows).",
)
@click.option(
    "--simplify-m",
    type=METRES,
    default=None,
    help="Douglas-Peucker tolerance for lines and polygons [default: one pixel].",
)
@click.option(
    "--min-area-m2",
    type=METRES,
    default=VectorizeOptions.min_polygon_m2,
    show_default=True,
    help="Drop surface polygons smaller than this.",
)
@click.option(
    "--extend-ends",
    is_flag=True,
    help="Run dead ends on to the end of the road surface (default: half a width short).",
)
@scale_options(
    "Processes vectorising blocks in parallel",
    "Run the blocks on a Dask cluster (tcp://HOST:8786 or tls://...); its workers "
    "must see the rasters at the same paths.",
)
@progress_options
def vectorize(
    rasters: tuple[Path, ...],
    out: Path,
    polygons: Path | None,
    layer: str | None,
    threshold: float,
    min_spur_m: float,
    bridge_m: float,
    simplify_m: float | None,
    min_area_m2: float,
    extend_ends: bool,
    block: int,
    workers: int | None,
    scheduler: str | None,
    progress: str,
) -> None:
    """Turn road probability or mask RASTERS (band 1) into centrelines and surfaces.

    Several adjacent rasters on one grid (tiles of one mosaic) give one seamless network.
    """
    from roadkd.io import OutputPlan, reading
    from roadkd.vectorize import (
        SUPPORTED,
        VectorizeOptions,
        default_workers,
        layer_names,
        vectorize_raster,
        write_layers,
    )
    from roadkd.vectorize.confidence import with_confidence
    from roadkd.vectorize.mosaic import mosaic_of

    check_gpkg_layer(layer, out, polygons)
    # Fail on a bad output before the (long) vectorisation, not after it.
    plan = OutputPlan()
    for raster in rasters:
        plan.add_input(raster, "input raster")
    plan.add(out, "--out", SUPPORTED)
    if polygons is not None:
        plan.add(polygons, "--polygons", SUPPORTED)
    options = VectorizeOptions(
        threshold=threshold,
        min_spur_m=min_spur_m,
        bridge_m=bridge_m,
        simplify_m=simplify_m,
        min_polygon_m2=min_area_m2,
        extend_ends=extend_ends,
    )
    names = layer_names(layer)
    with mosaic_of(list(rasters)) as raster, reading(raster):
        vectors = vectorize_raster(
            raster,
            options,
            block=block,
            workers=workers or default_workers(),
            progress=progress_report(progress),
            scheduler=scheduler,
        )
        vectors = with_confidence(vectors, raster)
    with plan:
        layers = {"centerlines": vectors.centerlines, "surface": vectors.surface}
        write_layers(plan.stage(out), layers, names)
        if polygons is not None:
            write_layers(plan.stage(polygons), {"surface": vectors.surface}, names)
    km = float(vectors.centerlines["length_m"].sum()) / 1000
    surfaces = f", {len(vectors.surface)} surface polygons" if polygons is not None else ""
    work = f" ({vectors.work.describe()})" if vectors.work else ""
    click.echo(f"{len(vectors.centerlines)} road lines, {km:.2f} km{surfaces}{work} -> {out}")
