"""`roadkd predict`: detect roads in whole scenes and write road vectors."""

from pathlib import Path

import click

from .options import (
    POSITIVE,
    check_gpkg_layer,
    check_tile_overlap,
    inference_options,
    layer_option,
    pixel_options,
    progress_options,
    progress_report,
    scale_options,
    threshold_option,
)


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
    help="Student checkpoint (.ckpt), safetensors or ONNX export (.safetensors, .onnx).",
)
@click.option(
    "--prob",
    type=click.Path(path_type=Path),
    help="Keep the road probability GeoTIFF here (a folder for several scenes): the scene's "
    "CRS (UTM for a scene in degrees) and extent, at the model's resolution. With "
    "--scheduler: <scene>_probability.vrt over a folder of block GeoTIFFs beside it.",
)
@click.option(
    "--polygons", type=click.Path(path_type=Path), help="Also write road surface polygons."
)
@click.option(
    "--preview", type=click.Path(path_type=Path), help="PNG of the first scene with roads drawn."
)
@layer_option
@inference_options
@click.option(
    "--batch-size", type=POSITIVE, default=4, show_default=True, help="Tiles per forward pass."
)
@threshold_option("Road probability threshold.")
@pixel_options
@click.option(
    "--native-resolution",
    is_flag=True,
    help="Do not resample scenes to the model's metres per pixel.",
)
@click.option(
    "--any-resolution",
    is_flag=True,
    help="Accept scenes more than 8x coarser or finer than the model.",
)
@scale_options(
    "Processes vectorising finished bands while inference goes on",
    "Predict and vectorise block by block on a Dask cluster (tcp://HOST:8786 or "
    "tls://...); its workers must see the scenes and the model, and write --prob (or the "
    "folder of --out), at the same paths.",
    workers_default="one per core with a GPU; on the CPU 1, between batches, as the model "
    "uses every core",
)
@progress_options
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
    bands: tuple[int, ...] | None,
    scale: tuple[float, float] | None,
    native_resolution: bool,
    any_resolution: bool,
    block: int,
    workers: int | None,
    scheduler: str | None,
    progress: str,
) -> None:
    """Detect roads in SCENES (GeoTIFF/VRT files or folders) and write them to --out.

    Each scene is brought to the model on read: resampled to its metres per pixel, a scene
    in degrees reprojected to its UTM zone, 16-bit or float pixels scaled to 0-255, and
    bands picked; what was chosen is printed once per scene.

    No output may be a scene, the model or another output; all outputs are written only
    when everything succeeded, so a failed run changes no file.
    """
    from roadkd.imagery import ReadOptions
    from roadkd.pipeline import PredictOutputs, PredictSettings, run_predict
    from roadkd.vectorize import VectorizeOptions

    check_tile_overlap(tile, overlap)
    check_gpkg_layer(layer, out, polygons)
    result = run_predict(
        list(scenes),
        model,
        PredictOutputs(out, prob, polygons, preview, layer),
        PredictSettings(
            tile=tile,
            overlap=overlap,
            batch_size=batch_size,
            device=device,
            options=VectorizeOptions(threshold=threshold),
            read_options=ReadOptions(bands, scale, native_resolution, any_resolution),
            block=block,
            workers=workers,
            scheduler=scheduler,
        ),
        progress=progress_report(progress),
        log=lambda line: click.echo(line, err=True),
    )
    for repeat in result.repeats:
        click.echo(f"Note: {repeat} was given more than once; it was read once.", err=True)
    click.echo(
        f"{len(result.scenes)} scene(s), {result.area_km2:.3f} km2: "
        f"{result.n_lines} road lines, {result.road_km:.2f} km, "
        f"{result.seconds:.1f} s ({result.blocks} blocks, {result.workers} workers, "
        f"{result.megapixels / max(result.seconds, 1e-9):.3g} MP/s) -> {out}"
    )
