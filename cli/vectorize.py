"""`roadkd vectorize`: road probability or mask raster -> road vectors."""

from pathlib import Path

import click


@click.command()
@click.argument("raster", type=click.Path(path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Centrelines: .geojson (WGS84), .gpkg or .shp (native CRS).",
)
@click.option(
    "--polygons", type=click.Path(path_type=Path), help="Also write road surface polygons."
)
@click.option(
    "--threshold",
    type=float,
    default=0.3,
    show_default=True,
    help="Road at or above this value (0/1 masks work as they are).",
)
@click.option("--min-spur-m", type=float, default=10.0, show_default=True)
@click.option("--bridge-m", type=float, default=12.0, show_default=True)
@click.option("--simplify-m", type=float, default=0.3, show_default=True)
def vectorize(
    raster: Path,
    out: Path,
    polygons: Path | None,
    threshold: float,
    min_spur_m: float,
    bridge_m: float,
    simplify_m: float,
) -> None:
    """Turn a road probability or mask RASTER (band 1) into centrelines and surfaces."""
    from roadkd.vectorize import VectorizeOptions, vectorize_raster, write_vectors

    options = VectorizeOptions(
        threshold=threshold, min_spur_m=min_spur_m, bridge_m=bridge_m, simplify_m=simplify_m
    )
    vectors = vectorize_raster(raster, options)
    write_vectors(out, {"centerlines": vectors.centerlines, "surface": vectors.surface})
    if polygons is not None:
        write_vectors(polygons, {"surface": vectors.surface})
    km = vectors.centerlines["length_m"].sum() / 1000 if len(vectors.centerlines) else 0.0
    click.echo(f"{len(vectors.centerlines)} road lines, {km:.2f} km -> {out}")
