"""`roadkd evaluate`: score a model on a dataset split."""

from pathlib import Path

import click

from .options import METRES, OVERLAP, PROBABILITY, TILE, check_tile_overlap


@click.command()
@click.option(
    "--model", required=True, type=click.Path(path_type=Path), help="Checkpoint or ONNX file."
)
@click.option("--data", required=True, type=click.Path(path_type=Path), help="Dataset folder.")
@click.option(
    "--split", default="test", show_default=True, type=click.Choice(["train", "val", "test"])
)
@click.option("--out", type=click.Path(path_type=Path), help="Write the scores as JSON here.")
@click.option(
    "--tile",
    type=TILE,
    default=None,
    help="Tile size in px, a multiple of 32 (default: the model's).",
)
@click.option("--overlap", type=OVERLAP, default=None, help="Tile overlap in px (default: tile/8).")
@click.option("--threshold", type=PROBABILITY, default=0.3, show_default=True)
@click.option(
    "--buffer-px",
    type=METRES,
    default=5.0,
    show_default=True,
    help="Tolerance of relaxed precision/recall, in pixels.",
)
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
def evaluate(
    model: Path,
    data: Path,
    split: str,
    out: Path | None,
    tile: int | None,
    overlap: int | None,
    threshold: float,
    buffer_px: float,
    device: str,
) -> None:
    """Score MODEL on a split: road IoU/P/R/F1, mIoU, relaxed P/R and APLS."""
    from roadkd.evaluation import evaluate as run_evaluation
    from roadkd.evaluation import write_evaluation
    from roadkd.io import OutputPlan
    from roadkd.vectorize import VectorizeOptions

    check_tile_overlap(tile, overlap)
    plan = OutputPlan()
    plan.add_input(model, "model")
    plan.add_input(data / "splits.json", "dataset's splits.json")
    if out is not None:
        plan.add(out, "--out", (".json",))
    result = run_evaluation(
        model,
        data,
        split,
        tile=tile,
        overlap=overlap,
        device=device,
        options=VectorizeOptions(threshold=threshold),
        buffer_px=buffer_px,
    )
    for note in result.notes:
        click.echo(f"Note: {note}", err=True)
    click.echo(result.table())
    if out is not None:
        with plan:
            write_evaluation(result, plan.stage(out))
        click.echo(f"-> {out}")
