"""`roadkd evaluate`: score a model on a dataset split, or a road layer against another.

Two commands: ``roadkd evaluate model`` and ``roadkd evaluate layers`` (:mod:`.compare`).
Without a command name, the options given choose one: ``--model``/``--data`` score a model,
``--truth``/``--pred`` compare layers, as the single command did before.
"""

from pathlib import Path
from typing import Any

import click

from roadkd.metrics.options import DEFAULT_SPLIT, RELAXED_BUFFER_PX

from .compare import layers
from .options import (
    METRES,
    check_tile_overlap,
    inference_options,
    progress_options,
    progress_report,
    threshold_option,
)

MODES = (
    "use either --model/--data (score a model on a dataset split) or --truth/--pred "
    "(compare two road layers)"
)


@click.command()
@click.option(
    "--model", type=click.Path(path_type=Path), help="Checkpoint, safetensors or ONNX file."
)
@click.option("--data", type=click.Path(path_type=Path), help="Dataset folder.")
@click.option(
    "--split",
    default=DEFAULT_SPLIT,
    show_default=True,
    type=click.Choice(["train", "val", "test"]),
)
@click.option("--out", type=click.Path(path_type=Path), help="Write the scores as JSON here.")
@threshold_option("Road probability threshold of the vectorised roads (graph scores).")
@click.option(
    "--buffer-px",
    type=METRES,
    default=RELAXED_BUFFER_PX,
    show_default=True,
    help="Tolerance of relaxed precision/recall, in pixels.",
)
@inference_options
@progress_options
def model(
    model: Path | None,
    data: Path | None,
    split: str,
    out: Path | None,
    threshold: float,
    buffer_px: float,
    tile: int | None,
    overlap: int | None,
    device: str,
    progress: str,
) -> None:
    """Score a model on a dataset split.

    Road IoU/P/R/F1, mIoU, relaxed P/R and APLS on the split's scenes.
    """
    if model is None or data is None:
        raise click.UsageError(MODES)
    from roadkd.evaluation import evaluate as run_evaluation
    from roadkd.evaluation import write_evaluation
    from roadkd.formats import REPORT
    from roadkd.io import OutputPlan
    from roadkd.vectorize import VectorizeOptions

    check_tile_overlap(tile, overlap)
    plan = OutputPlan()
    plan.add_input(model, "model")
    plan.add_input(data / "splits.json", "dataset's splits.json")
    if out is not None:
        plan.add(out, "--out", REPORT)
    result = run_evaluation(
        model,
        data,
        split,
        tile=tile,
        overlap=overlap,
        device=device,
        options=VectorizeOptions(threshold=threshold),
        buffer_px=buffer_px,
        progress=progress_report(progress),
    )
    for note in result.notes:
        click.echo(f"Note: {note}", err=True)
    click.echo(result.table())
    if out is not None:
        with plan:
            write_evaluation(result, plan.stage(out))
        click.echo(f"-> {out}")


def _options(command: click.Command) -> list[str]:
    """A command's long option names, in the order it declares them."""
    return [opt for param in command.params for opt in param.opts if opt.startswith("--")]


class Evaluate(click.Group):
    """The two commands, with the mode chosen by the options when no command is named."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Put the mode's name in front of options given without one.

        Raises:
            click.UsageError: for options of both modes.
        """
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = [self._mode(ctx, args), *args]
        result: list[str] = super().parse_args(ctx, args)
        return result

    def _mode(self, ctx: click.Context, args: list[str]) -> str:
        given = {arg.split("=", 1)[0] for arg in args if arg.startswith("--")}
        shared = set(_options(model)) & set(_options(layers))
        raster = [o for o in _options(model) if o in given and o not in shared]
        vector = [o for o in _options(layers) if o in given and o not in shared]
        if raster and vector:
            raise click.UsageError(f"{MODES}, not both ({', '.join(raster + vector)})", ctx)
        return "layers" if vector else "model"


@click.group(cls=Evaluate)
def evaluate(**_: Any) -> None:
    """Score a model on a dataset split, or compare a road layer with a reference one.

    Without MODEL or LAYERS, the options choose: --model and --data score a model (road
    IoU/P/R/F1, mIoU, relaxed P/R and APLS on the split's scenes); --truth and --pred (any
    GDAL line layers, any CRS) give APLS, TOPO and length precision/recall within
    --buffer-m, in metres, in the data's UTM zone.
    """


evaluate.add_command(model)
evaluate.add_command(layers)
