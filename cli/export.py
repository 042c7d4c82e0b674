"""`roadkd export`: a trained student as ONNX (onnxruntime, QGIS Deepness) or safetensors."""

from pathlib import Path

import click

from .options import PROBABILITY, TILE


@click.command()
@click.option(
    "--model",
    required=True,
    type=click.Path(path_type=Path),
    help="roadkd checkpoint (.ckpt), saved bundle or .safetensors export.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="File to write (.onnx, .safetensors).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["onnx", "safetensors"]),
    default="onnx",
    show_default=True,
    help="onnx: graph + Deepness metadata; safetensors: weights + roadkd metadata, no pickle.",
)
@click.option(
    "--tile", type=TILE, default=None, help="Tile size to advertise (default: training tile)."
)
@click.option(
    "--overlap",
    type=click.IntRange(0, 50),
    default=15,
    show_default=True,
    help="Tile overlap in percent (at most 50; ONNX only).",
)
@click.option(
    "--threshold", type=PROBABILITY, default=0.5, show_default=True, help="Road threshold."
)
def export(
    model: Path, out: Path, fmt: str, tile: int | None, overlap: int, threshold: float
) -> None:
    """Export the student in MODEL to ONNX (with Deepness metadata) or safetensors."""
    from roadkd.io import OutputPlan

    plan = OutputPlan()
    plan.add_input(model, "model")
    plan.add(out, "--out", (f".{fmt}",))
    if fmt == "safetensors":
        from roadkd.export import export_safetensors

        export_safetensors(model, out, tile_size=tile, threshold=threshold)
    else:
        from roadkd.export import export_onnx

        export_onnx(model, out, tile_size=tile, overlap_percent=overlap, threshold=threshold)
    click.echo(f"-> {out}")
