"""`roadkd data`: make the synthetic data set or import the RoadNet release."""

from pathlib import Path

import click

from .options import POSITIVE, FiniteFloatRange


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
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Seed (same seed, same bytes)."
)
def synth(out: Path, scenes: int, size: int, seed: int) -> None:
    """Generate synthetic RoadNet-style scenes (0.21 m/px, EPSG:32618 near Ottawa)."""
    from roadkd.datasets.layout import read_splits
    from roadkd.datasets.synthetic import write_synthetic_dataset

    root = write_synthetic_dataset(out, scenes=scenes, size=size, seed=seed)
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
    type=FiniteFloatRange(0, 1, max_open=True),
    help="Share of the training scenes kept for validation.",
)
@click.option("--seed", default=1, show_default=True, type=int, help="Seed of the val draw.")
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
