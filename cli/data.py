"""`roadkd data`: make the synthetic data set, import a public release or your own vectors."""

from pathlib import Path
from typing import Any

import click

from .options import (
    POSITIVE,
    SHARE,
    FiniteFloatRange,
    pixel_options,
    progress_options,
    progress_report,
    seed_option,
    stack,
)

#: Shown in --help without importing the library.
OVERPASS_URL = "https://overpass-api.de/api/interpreter"


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


#: Where OpenStreetMap roads come from (osm, from-osm).
osm_source_options = stack(
    click.option(
        "--osm",
        type=click.Path(path_type=Path),
        default=None,
        help="An OpenStreetMap extract you downloaded (.osm.pbf, .osm, .gpkg, .geojson, .shp) "
        "[default: ask the Overpass API].",
    ),
    click.option(
        "--overpass-url",
        default=OVERPASS_URL,
        show_default=True,
        help="Overpass API instance to ask.",
    ),
)

#: How roads are burnt and scenes cut into split blocks (from-vectors, from-osm).
label_options = stack(
    click.option(
        "--default-width-m",
        default=6.0,
        show_default=True,
        type=FiniteFloatRange(min=0, min_open=True),
        help="Width of roads without a width field value or OSM highway/lanes tags.",
    ),
    click.option("--keep-paths", is_flag=True, help="Keep footways, cycleways and other paths."),
    click.option(
        "--uncertain-m",
        default=1.0,
        show_default=True,
        type=FiniteFloatRange(min=0),
        help="Band on each side of every road edge labelled 'ignore' (255).",
    ),
    click.option(
        "--labelled-area",
        type=click.Path(path_type=Path),
        default=None,
        help="Polygons where the roads are complete [default: the road layer's extent].",
    ),
    click.option(
        "--labelled-area-layer",
        default=None,
        help="Layer of --labelled-area [default: its first polygon layer].",
    ),
    click.option(
        "--val",
        default=0.1,
        show_default=True,
        type=SHARE,
        help="Share of labelled blocks held out for validation.",
    ),
    click.option(
        "--test",
        default=0.1,
        show_default=True,
        type=SHARE,
        help="Share of labelled blocks held out for testing.",
    ),
    seed_option("Seed of the val/test draw.", default=1),
    click.option(
        "--block-size",
        "block_px",
        default=1024,
        show_default=True,
        type=click.IntRange(min=32),
        help="Smallest side in pixels of the blocks scenes are cut into (at least the "
        "training block_size, 2 x patch_size by default).",
    ),
    click.option(
        "--resolution",
        default=None,
        type=FiniteFloatRange(min=0, min_open=True),
        help="Metres per pixel of the written images [default: the scenes' own].",
    ),
    pixel_options,
    progress_options,
)


def _label_settings(options: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of write_dataset_from_vectors from the label options."""
    from roadkd.imagery import ReadOptions

    settings = dict(options)
    settings["read_options"] = ReadOptions(bands=settings.pop("bands"), scale=settings.pop("scale"))
    settings["progress"] = progress_report(settings.pop("progress"))
    return settings


def _log(line: str) -> None:
    click.echo(line, err=True)


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
@label_options
def from_vectors(
    scenes: tuple[Path, ...],
    roads: Path,
    out: Path,
    roads_layer: str | None,
    width_field: str | None,
    **options: Any,
) -> None:
    """Make training data from SCENES (files or folders) and a road layer you already have.

    Roads are buffered by their width into surface labels, with an ignore band around
    every edge; scenes are cut into blocks: labelled inside --labelled-area (train, val,
    test), unlabelled outside it. Scenes are read as `roadkd predict` reads them (degrees
    reprojected to UTM, 16-bit or float scaled to 0-255, RGB bands picked).
    """
    from roadkd.datasets.from_vectors import write_dataset_from_vectors
    from roadkd.pipeline.outputs import expand_scenes

    summary = write_dataset_from_vectors(
        expand_scenes(list(scenes)),
        roads,
        out,
        roads_layer=roads_layer,
        width_field=width_field,
        log=_log,
        **_label_settings(options),
    )
    click.echo(summary.line())


@data.command("from-osm")
@click.argument("scenes", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder to create.")
@osm_source_options
@label_options
def from_osm(
    scenes: tuple[Path, ...],
    out: Path,
    osm: Path | None,
    overpass_url: str,
    **options: Any,
) -> None:
    """Make training data from SCENES and the OpenStreetMap roads over them.

    The highway lines over the scenes' extent are fetched from the Overpass API (or read
    from --osm) and kept beside DIR as DIR_osm.gpkg, with the query and date in its
    metadata; a later run over the same scenes uses it without network. Then as
    `data from-vectors`: widths from the lanes tag (x 3.5 m), else the highway class;
    footways and other paths left out unless --keep-paths.
    """
    from roadkd.datasets.osm import write_dataset_from_osm
    from roadkd.pipeline.outputs import expand_scenes

    summary, cache = write_dataset_from_osm(
        expand_scenes(list(scenes)),
        out,
        osm=osm,
        overpass_url=overpass_url,
        log=_log,
        **_label_settings(options),
    )
    click.echo(summary.line())
    click.echo(f"OpenStreetMap roads: {cache}")


@data.command()
@click.argument("scenes", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="GeoPackage to write (.gpkg; its other layers are kept).",
)
@osm_source_options
def osm(scenes: tuple[Path, ...], out: Path, osm: Path | None, overpass_url: str) -> None:
    """Write the OpenStreetMap roads over SCENES to a GeoPackage (layer osm_roads).

    Every highway line over the scenes' extent, from the Overpass API or --osm, with
    highway, lanes, bridge, tunnel, layer, ... as fields and the query and date in the
    layer's metadata: the reference layer of `roadkd evaluate --truth`.
    """
    from roadkd.datasets.osm import osm_roads, write_osm_layer
    from roadkd.formats import NAMED_LAYERS
    from roadkd.io import OutputPlan
    from roadkd.pipeline.outputs import expand_scenes

    found = expand_scenes(list(scenes))
    plan = OutputPlan()
    for scene in found:
        plan.add_input(scene, "input scene")
    if osm is not None:
        plan.add_input(osm, "--osm extract")
    plan.add(out, "--out", NAMED_LAYERS)
    roads, source = osm_roads(found, osm, overpass_url, _log)
    with plan:
        write_osm_layer(roads, plan.stage(out), source)
    click.echo(f"{len(roads)} highway line(s) from {source.source} -> {out}")


@data.command()
@click.argument("release", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder to create.")
@click.option(
    "--city",
    "cities",
    multiple=True,
    type=click.Choice(["Vegas", "Paris", "Shanghai", "Khartoum"], case_sensitive=False),
    help="City (AOI) to convert, repeatable [default: every AOI found].",
)
@click.option(
    "--val",
    default=0.1,
    show_default=True,
    type=SHARE,
    help="Share of each AOI's labelled chips held out for validation.",
)
@click.option(
    "--test",
    default=0.1,
    show_default=True,
    type=SHARE,
    help="Share of each AOI's labelled chips held out for testing.",
)
@click.option(
    "--test-chips",
    type=click.Path(path_type=Path),
    default=None,
    help="File listing the test chips, one per line (e.g. AOI_2_Vegas_img1 or "
    "RGB-PanSharpen_AOI_2_Vegas_img1: a published split), instead of --test.",
)
@seed_option("Seed of the val/test draw.", default=1)
@click.option(
    "--resolution",
    default=0.3,
    show_default=True,
    type=FiniteFloatRange(min=0, min_open=True),
    help="Metres per pixel of the written images (the release's is 0.3).",
)
@click.option(
    "--uncertain-m",
    default=1.0,
    show_default=True,
    type=FiniteFloatRange(min=0),
    help="Band on each side of every road edge labelled 'ignore' (255).",
)
@pixel_options
def spacenet3(
    release: Path,
    out: Path,
    cities: tuple[str, ...],
    val: float,
    test: float,
    test_chips: Path | None,
    seed: int,
    resolution: float,
    uncertain_m: float,
    bands: tuple[int, ...] | None,
    scale: tuple[float, float] | None,
) -> None:
    """Convert the SpaceNet 3 roads release RELEASE into roadkd's layout.

    Labelled chips (train) become train, val and test chips, drawn per AOI; the public test
    chips (imagery only) feed the unlabelled stream. Road widths come from lane_number
    (x 3.5 m), else road_type. Beside DIR goes DIR_roads.gpkg: every label line with
    OpenStreetMap-style tags (highway, lanes, bridge, layer) and the labelled chips' outlines.
    """
    from roadkd.datasets.spacenet3 import AOI_NUMBERS, convert_spacenet3
    from roadkd.imagery import ReadOptions

    summary = convert_spacenet3(
        release,
        out,
        aois=[AOI_NUMBERS[city.lower()] for city in cities],
        val=val,
        test=test,
        seed=seed,
        test_chips=test_chips,
        resolution=resolution,
        uncertain_m=uncertain_m,
        read_options=ReadOptions(bands=bands, scale=scale),
        log=lambda line: click.echo(line, err=True),
    )
    for line in summary.lines():
        click.echo(line)
