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
    from roadkd.pipeline.vectorize import run_vectorize

    check_gpkg_layer(layer, out, polygons)
    options = VectorizeOptions(
        threshold=threshold,
        min_spur_m=min_spur_m,
        bridge_m=bridge_m,
        simplify_m=simplify_m,
        min_polygon_m2=min_area_m2,
        extend_ends=extend_ends,
    )
    vectors = run_vectorize(
        list(rasters),
        out,
        polygons,
        layer,
        options,
        block,
        workers,
        scheduler,
        progress=progress_report(progress),
    )
    km = float(vectors.centerlines["length_m"].sum()) / 1000
    surfaces = f", {len(vectors.surface)} surface polygons" if polygons is not None else ""
    work = f" ({vectors.work.describe()})" if vectors.work else ""
    click.echo(f"{len(vectors.centerlines)} road lines, {km:.2f} km{surfaces}{work} -> {out}")
