"""`roadkd data`: make the synthetic data set or import the RoadNet release."""

from pathlib import Path

import click

from .options import (
    POSITIVE,
    SHARE,
    FiniteFloatRange,
    pixel_options,
    progress_option,
    seed_option,
    shows_progress,
)


@click.group()
def data() -> None:
    """Make or import datasets in roadkd's layout (images/, masks/, splits.json)."""


@data.command()
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder to create.")
@click.option("--scenes", default=6, show_default=True, type=POSITIVE, help="Number of scenes.")
@click.option(
    "--size",
    default=1024,
    show_default=True,
    type=click.IntRange(128, 16384),
    help="Scene side in px (128 to 16384).",
)
@seed_option("Seed (same seed, same bytes).")
@click.option(
    "--styles/--no-styles",
    default=True,
    show_default=True,
    help="Draw each scene's look (road material, season, sun, density) from its seed; "
    "--no-styles gives every scene the same green asphalt suburb.",
)
def synth(out: Path, scenes: int, size: int, seed: int, styles: bool) -> None:
    """Generate synthetic RoadNet-style scenes (0.21 m/px, EPSG:32618 near Ottawa)."""
    from roadkd.datasets.layout import read_splits
    from roadkd.datasets.synthetic import write_synthetic_dataset

    root = write_synthetic_dataset(out, scenes=scenes, size=size, seed=seed, styles=styles)
    splits = read_splits(root)
    click.echo(
        f"wrote {scenes} scenes of {size}x{size} px to {root} "
        f"(train {len(splits['train'])}, val {len(splits['val'])}, test {len(splits['test'])})"
    )


@data.command()
@click.argument("src", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder to create.")
@click.option(
    "--crs", default="EPSG:32618", show_default=True, help="Projected CRS to assign (metres)."
)
@click.option(
    "--origin",
    default="445000,5030000",
    show_default=True,
    help="Upper-left corner X,Y of scene 1 in --crs units.",
)
@click.option(
    "--val-fraction",
    default=0.1,
    show_default=True,
    type=SHARE,
    help="Share of the training scenes kept for validation.",
)
@seed_option("Seed of the val draw.", default=1)
def roadnet(src: Path, out: Path, crs: str, origin: str, val_fraction: float, seed: int) -> None:
    """Convert the RoadNet release SRC (folders 1/..20/) into roadkd's layout.

    The release has no georeference: one is assigned (0.21 m/px, scenes placed apart).
    """
    from roadkd.datasets.layout import read_splits
    from roadkd.datasets.roadnet_release import convert_roadnet_release

    root = convert_roadnet_release(
        src, out, crs=crs, origin=origin, val_fraction=val_fraction, seed=seed
    )
    splits = read_splits(root)
    click.echo(
        f"wrote RoadNet to {root} "
        f"(train {len(splits['train'])}, val {len(splits['val'])}, test {len(splits['test'])})"
    )
    click.echo(f"Note: {splits['note']}")


@data.command("from-vectors")
@click.argument("scenes", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--roads",
    required=True,
    type=click.Path(path_type=Path),
    help="Road centrelines: any line layer GDAL reads (GeoPackage, Shapefile, OSM...), any CRS.",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder to create.")
@click.option("--roads-layer", default=None, help="Layer of --roads [default: first line layer].")
@click.option("--width-field", default=None, help="Field of --roads holding widths in metres.")
@click.option(
    "--default-width-m",
    default=6.0,
    show_default=True,
    type=FiniteFloatRange(min=0, min_open=True),
    help="Width of roads without a width field value or OSM highway/lanes tags.",
)
@click.option("--keep-paths", is_flag=True, help="Keep footways, cycleways and other paths.")
@click.option(
    "--uncertain-m",
    default=1.0,
    show_default=True,
    type=FiniteFloatRange(min=0),
    help="Band on each side of every road edge labelled 'ignore' (255).",
)
@click.option(
    "--labelled-area",
    type=click.Path(path_type=Path),
    default=None,
    help="Polygons where --roads is complete [default: the road layer's extent].",
)
@click.option(
    "--labelled-area-layer",
    default=None,
    help="Layer of --labelled-area [default: first polygon layer].",
)
@click.option(
    "--val",
    default=0.1,
    show_default=True,
    type=SHARE,
    help="Share of labelled blocks held out for validation.",
)
@click.option(
    "--test",
    default=0.1,
    show_default=True,
    type=SHARE,
    help="Share of labelled blocks held out for testing.",
)
@seed_option("Seed of the val/test draw.", default=1)
@click.option(
    "--block-size",
    default=1024,
    show_default=True,
    type=click.IntRange(min=32),
    help="Smallest side in pixels of the blocks scenes are cut into (at least the "
    "training block_size, 2 x patch_size by default).",
)
@click.option(
    "--resolution",
    default=None,
    type=FiniteFloatRange(min=0, min_open=True),
    help="Metres per pixel of the written images [default: the scenes' own].",
)
@pixel_options
@progress_option
def from_vectors(
    scenes: tuple[Path, ...],
    roads: Path,
    out: Path,
    roads_layer: str | None,
    width_field: str | None,
    default_width_m: float,
    keep_paths: bool,
    uncertain_m: float,
    labelled_area: Path | None,
    labelled_area_layer: str | None,
    val: float,
    test: float,
    seed: int,
    block_size: int,
    resolution: float | None,
    bands: tuple[int, ...] | None,
    scale: tuple[float, float] | None,
    progress: str,
) -> None:
    """Make training data from SCENES (files or folders) and a road layer you already have.

    Roads are buffered by their width into surface labels, with an ignore band around
    every edge; scenes are cut into blocks: labelled inside --labelled-area (train, val,
    test), unlabelled outside it. Scenes are read as `roadkd predict` reads them (degrees
    reprojected to UTM, 16-bit or float scaled to 0-255, RGB bands picked).
    """
    from roadkd.datasets.from_vectors import write_dataset_from_vectors
    from roadkd.imagery import ReadOptions
    from roadkd.pipeline.outputs import expand_scenes

    summary = write_dataset_from_vectors(
        expand_scenes(list(scenes)),
        roads,
        out,
        roads_layer=roads_layer,
        width_field=width_field,
        default_width_m=default_width_m,
        keep_paths=keep_paths,
        uncertain_m=uncertain_m,
        labelled_area=labelled_area,
        labelled_area_layer=labelled_area_layer,
        val=val,
        test=test,
        seed=seed,
        block_px=block_size,
        resolution=resolution,
        read_options=ReadOptions(bands=bands, scale=scale),
        log=lambda line: click.echo(line, err=True),
        progress=shows_progress(progress),
    )
    click.echo(summary.line())
