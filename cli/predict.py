"""`roadkd predict`: detect roads in whole scenes and write road vectors."""

import sys
from pathlib import Path

import click

from .options import (
    OVERLAP,
    POSITIVE,
    PROBABILITY,
    TILE,
    check_gpkg_layer,
    check_tile_overlap,
)


@click.command()
@click.argument("scenes", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Centrelines: .geojson (WGS84), .gpkg or .shp (native CRS).",
)
@click.option(
    "--model",
    required=True,
    type=click.Path(path_type=Path),
    help="Student checkpoint (.ckpt) or ONNX export (.onnx).",
)
@click.option(
    "--prob",
    type=click.Path(path_type=Path),
    help="Keep the road probability GeoTIFF here (a folder for several scenes).",
)
@click.option(
    "--polygons", type=click.Path(path_type=Path), help="Also write road surface polygons."
)
@click.option(
    "--preview", type=click.Path(path_type=Path), help="PNG of the first scene with roads drawn."
)
@click.option(
    "--layer",
    metavar="NAME",
    help="GeoPackage layer name of the centrelines (surfaces: NAME_surface) "
    "[default: centerlines, surface]. Other layers of an existing .gpkg are kept.",
)
@click.option(
    "--tile",
    type=TILE,
    default=None,
    help="Tile size in px, a multiple of 32 (default: the model's).",
)
@click.option("--overlap", type=OVERLAP, default=None, help="Tile overlap in px (default: tile/8).")
@click.option(
    "--batch-size", type=POSITIVE, default=4, show_default=True, help="Tiles per forward pass."
)
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
@click.option(
    "--threshold",
    type=PROBABILITY,
    default=0.3,
    show_default=True,
    help="Road probability threshold.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def predict(
    scenes: tuple[Path, ...],
    out: Path,
    model: Path,
    prob: Path | None,
    polygons: Path | None,
    preview: Path | None,
    layer: str | None,
    tile: int | None,
    overlap: int | None,
    batch_size: int,
    device: str,
    threshold: float,
    quiet: bool,
) -> None:
    """Detect roads in SCENES (GeoTIFF/VRT files or folders) and write them to --out.

    No output may be a scene, the model or another output; all outputs are written only
    when everything succeeded, so a failed run changes no file.
    """
    from roadkd.pipeline import run_predict
    from roadkd.vectorize import VectorizeOptions

    check_tile_overlap(tile, overlap)
    check_gpkg_layer(layer, out, polygons)
    result = run_predict(
        list(scenes),
        model,
        out,
        prob=prob,
        polygons=polygons,
        preview=preview,
        tile=tile,
        overlap=overlap,
        batch_size=batch_size,
        device=device,
        options=VectorizeOptions(threshold=threshold),
        progress=not quiet and sys.stderr.isatty(),
        layer=layer,
    )
    for repeat in result.repeats:
        click.echo(f"Note: {repeat} was given more than once; it was read once.", err=True)
    click.echo(
        f"{len(result.scenes)} scene(s), {result.area_km2:.3f} km2: "
        f"{result.n_lines} road lines, {result.road_km:.2f} km, "
        f"{result.seconds:.1f} s -> {out}"
    )
