"""`roadkd export`: a trained student as ONNX (onnxruntime, QGIS Deepness) or safetensors."""

from pathlib import Path

import click

from .options import threshold_option, tile_option


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
@tile_option("Tile size to advertise, a multiple of 32 (default: the training tile).")
@click.option(
    "--overlap-percent",
    type=click.IntRange(0, 50),
    default=15,
    show_default=True,
    help="Tile overlap Deepness uses, in percent of the tile (at most 50; ONNX only). "
    "Not predict's --overlap, which is in pixels.",
)
@threshold_option("Road probability threshold Deepness uses.", default=0.5)
def export(
    model: Path, out: Path, fmt: str, tile: int | None, overlap_percent: int, threshold: float
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

        export_onnx(
            model, out, tile_size=tile, overlap_percent=overlap_percent, threshold=threshold
        )
    click.echo(f"-> {out}")
