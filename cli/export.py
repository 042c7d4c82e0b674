"""`roadkd export`: a trained student as ONNX for onnxruntime and QGIS (Deepness)."""

from pathlib import Path

import click

from .options import PROBABILITY, TILE


@click.command()
@click.option("--model", required=True, type=click.Path(path_type=Path), help="roadkd checkpoint.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="ONNX file to write.")
@click.option(
    "--tile", type=TILE, default=None, help="Tile size to advertise (default: training tile)."
)
@click.option(
    "--overlap",
    type=click.IntRange(0, 50),
    default=15,
    show_default=True,
    help="Tile overlap in percent (at most 50).",
)
@click.option(
    "--threshold", type=PROBABILITY, default=0.5, show_default=True, help="Road threshold."
)
def export(model: Path, out: Path, tile: int | None, overlap: int, threshold: float) -> None:
    """Export the student in MODEL to ONNX with Deepness metadata."""
    from roadkd.export import export_onnx
    from roadkd.io import OutputPlan

    plan = OutputPlan()
    plan.add_input(model, "model")
    plan.add(out, "--out", (".onnx",))
    export_onnx(model, out, tile_size=tile, overlap_percent=overlap, threshold=threshold)
    click.echo(f"-> {out}")
