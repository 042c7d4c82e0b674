"""`roadkd predict`: detect roads in whole scenes and write road vectors."""

import sys
from pathlib import Path

import click


@click.command()
@click.argument("scenes", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Centrelines: .geojson (WGS84), .gpkg, .shp or .parquet (GeoParquet; native CRS).",
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
@click.option("--tile", type=int, default=None, help="Tile size in px (default: the model's).")
@click.option("--overlap", type=int, default=None, help="Tile overlap in px (default: tile/8).")
@click.option(
    "--batch-size", type=int, default=4, show_default=True, help="Tiles per forward pass."
)
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
@click.option(
    "--threshold", type=float, default=0.3, show_default=True, help="Road probability threshold."
)
@click.option(
    "--block",
    type=click.IntRange(min=256),
    default=4096,
    show_default=True,
    help="Vectorise in blocks of this many pixels (each read with a halo, stitched exactly).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes vectorising finished bands while inference goes on [default: one per core].",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Predict and vectorise on a Dask cluster (tcp://HOST:8786 or tls://...); its "
    "workers must see the scenes, the model and --prob at the same paths.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def predict(
    scenes: tuple[Path, ...],
    out: Path,
    model: Path,
    prob: Path | None,
    polygons: Path | None,
    preview: Path | None,
    tile: int | None,
    overlap: int | None,
    batch_size: int,
    device: str,
    threshold: float,
    block: int,
    workers: int | None,
    scheduler: str | None,
    quiet: bool,
) -> None:
    """Detect roads in SCENES (GeoTIFF/VRT files or folders) and write them to --out."""
    from roadkd.pipeline import run_predict
    from roadkd.vectorize import VectorizeOptions, default_workers

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
        block=block,
        workers=workers or default_workers(),
        scheduler=scheduler,
    )
    click.echo(
        f"{len(result.scenes)} scene(s), {result.area_km2:.3f} km2: "
        f"{result.n_lines} road lines, {result.road_km:.2f} km, "
        f"{result.seconds:.1f} s ({result.blocks} blocks, {result.workers} workers, "
        f"{result.megapixels / max(result.seconds, 1e-9):.3g} MP/s) -> {out}"
    )
