"""`roadkd export`: a student as ONNX (float or int8; onnxruntime, Deepness) or safetensors."""

from pathlib import Path

import click

from .options import pixel_options, threshold_option, tile_option


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
@click.option(
    "--int8",
    is_flag=True,
    help="ONNX only: quantise to int8 (about twice as fast on a CPU), calibrated on "
    "--calibration and checked against the float model.",
)
@click.option(
    "--calibration",
    multiple=True,
    type=click.Path(path_type=Path),
    help="With --int8: a dataset folder (its train, val and unlabeled scenes) or scenes "
    "(files or folders) that look like what the model will see. Repeatable.",
)
@pixel_options
@click.option(
    "--force",
    is_flag=True,
    help="With --int8: write the model even if its road IoU against the float model is "
    "below 0.98 (with a warning).",
)
def export(
    model: Path,
    out: Path,
    fmt: str,
    tile: int | None,
    overlap_percent: int,
    threshold: float,
    int8: bool,
    calibration: tuple[Path, ...],
    bands: tuple[int, ...] | None,
    scale: tuple[float, float] | None,
    force: bool,
) -> None:
    """Export the student in MODEL to ONNX (with Deepness metadata) or safetensors."""
    from roadkd.errors import RoadkdError
    from roadkd.io import OutputPlan

    if int8 and fmt != "onnx":
        raise RoadkdError("--int8 quantises an ONNX export: use it with --format onnx")
    if not int8 and (calibration or force or bands or scale):
        raise RoadkdError("--calibration, --bands, --scale and --force go with --int8")
    plan = OutputPlan()
    plan.add_input(model, "model")
    for source in calibration:
        plan.add_input(source, "--calibration")
    plan.add(out, "--out", (f".{fmt}",))
    if fmt == "safetensors":
        from roadkd.export import export_safetensors

        export_safetensors(model, out, tile_size=tile, threshold=threshold)
        click.echo(f"-> {out}")
    elif int8:
        from roadkd.export import export_int8
        from roadkd.imagery import ReadOptions

        check = export_int8(
            model,
            out,
            calibration,
            tile_size=tile,
            overlap_percent=overlap_percent,
            threshold=threshold,
            force=force,
            options=ReadOptions(bands, scale),
            log=lambda line: click.echo(line, err=True),
        )
        click.echo(f"-> {out} ({check.summary()})")
    else:
        from roadkd.export import export_onnx

        export_onnx(
            model, out, tile_size=tile, overlap_percent=overlap_percent, threshold=threshold
        )
        click.echo(f"-> {out}")
