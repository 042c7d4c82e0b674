"""`roadkd evaluate`: score a model on a dataset split, or a road layer against another."""

from pathlib import Path

import click

from .options import (
    METRES,
    POSITIVE,
    FiniteFloatRange,
    check_tile_overlap,
    inference_options,
    progress_options,
    progress_report,
    threshold_option,
)

#: A tolerance or distance that must be more than zero.
POSITIVE_METRES = FiniteFloatRange(min=0, min_open=True)
RASTER_MODE = ("model", "data", "split", "tile", "overlap", "threshold", "buffer_px", "device")
VECTOR_MODE = (
    "truth",
    "pred",
    "truth_layer",
    "pred_layer",
    "aoi_layer",
    "errors",
    "aoi",
    "prob",
    "buffer_m",
    "snap_m",
    "crossings",
    "level_field",
    "topo_radius_m",
    "topo_interval_m",
    "topo_hole_m",
    "topo_seeds",
)
MODES = (
    "use either --model/--data (score a model on a dataset split) or --truth/--pred "
    "(compare two road layers)"
)


def _given(ctx: click.Context, names: tuple[str, ...]) -> list[str]:
    """The options among ``names`` that the user typed."""
    source = click.core.ParameterSource.COMMANDLINE
    return [
        f"--{name.replace('_', '-')}" for name in names if ctx.get_parameter_source(name) == source
    ]


@click.command()
@click.option(
    "--model", type=click.Path(path_type=Path), help="Checkpoint, safetensors or ONNX file."
)
@click.option("--data", type=click.Path(path_type=Path), help="Dataset folder.")
@click.option(
    "--split", default="test", show_default=True, type=click.Choice(["train", "val", "test"])
)
@click.option("--out", type=click.Path(path_type=Path), help="Write the scores as JSON here.")
@threshold_option("Road probability threshold of the vectorised roads (graph scores).")
@click.option(
    "--buffer-px",
    type=METRES,
    default=5.0,
    show_default=True,
    help="Tolerance of relaxed precision/recall, in pixels.",
)
@inference_options
@click.option(
    "--truth",
    type=click.Path(path_type=Path),
    help="Reference road lines (any GDAL vector file, any CRS).",
)
@click.option(
    "--pred", type=click.Path(path_type=Path), help="Predicted road lines, e.g. roadkd predict's."
)
@click.option("--truth-layer", help="Layer of --truth [default: its first line layer].")
@click.option("--pred-layer", help="Layer of --pred [default: its first line layer].")
@click.option("--aoi-layer", help="Layer of --aoi [default: its first polygon layer].")
@click.option(
    "--errors",
    type=click.Path(path_type=Path),
    help="Write the 'missed' and 'false' stretches to this GeoPackage.",
)
@click.option(
    "--aoi",
    type=click.Path(path_type=Path),
    help="Polygon layer limiting both layers [default: the --prob extent, else the "
    "prediction's convex hull].",
)
@click.option(
    "--prob",
    type=click.Path(path_type=Path),
    help="The prediction's probability raster: default area, confidence on error stretches.",
)
@click.option(
    "--buffer-m",
    type=POSITIVE_METRES,
    default=2.0,
    show_default=True,
    help="A stretch is found when the other layer is within this.",
)
@click.option(
    "--snap-m",
    type=POSITIVE_METRES,
    default=1.0,
    show_default=True,
    help="Line ends closer than this are one junction.",
)
@click.option(
    "--crossings",
    type=click.Choice(["auto", "junction", "apart"]),
    default="auto",
    show_default=True,
    help="Where lines cross without a shared vertex: a junction, unless their OSM-style "
    "bridge/tunnel/layer (or --level-field) differ (auto); always a junction; never (apart).",
)
@click.option(
    "--level-field",
    help="With --crossings auto: the field giving each line's level, instead of "
    "bridge/tunnel/layer.",
)
@click.option("--topo-radius-m", type=POSITIVE_METRES, default=150.0, show_default=True)
@click.option("--topo-interval-m", type=POSITIVE_METRES, default=30.0, show_default=True)
@click.option("--topo-hole-m", type=POSITIVE_METRES, default=5.0, show_default=True)
@click.option("--topo-seeds", type=POSITIVE, default=100, show_default=True)
@progress_options
@click.pass_context
def evaluate(
    ctx: click.Context,
    model: Path | None,
    data: Path | None,
    split: str,
    out: Path | None,
    tile: int | None,
    overlap: int | None,
    threshold: float,
    buffer_px: float,
    device: str,
    truth: Path | None,
    pred: Path | None,
    truth_layer: str | None,
    pred_layer: str | None,
    aoi_layer: str | None,
    errors: Path | None,
    aoi: Path | None,
    prob: Path | None,
    buffer_m: float,
    snap_m: float,
    crossings: str,
    level_field: str | None,
    topo_radius_m: float,
    topo_interval_m: float,
    topo_hole_m: float,
    topo_seeds: int,
    progress: str,
) -> None:
    """Score a model on a dataset split, or compare a road layer with a reference one.

    With --model and --data: road IoU/P/R/F1, mIoU, relaxed P/R and APLS on the split's
    scenes. With --truth and --pred (any GDAL line layers, any CRS): APLS, TOPO and length
    precision/recall within --buffer-m, in metres, in the data's UTM zone.
    """
    raster, vector = _given(ctx, RASTER_MODE), _given(ctx, VECTOR_MODE)
    if raster and vector:
        raise click.UsageError(f"{MODES}, not both ({', '.join(raster + vector)})")
    if truth is not None or pred is not None or vector:
        if truth is None or pred is None:
            raise click.UsageError("comparing road layers needs both --truth and --pred")
        _compare(
            truth,
            pred,
            truth_layer,
            pred_layer,
            aoi,
            aoi_layer,
            prob,
            out,
            errors,
            buffer_m,
            snap_m,
            (crossings, level_field),
            (topo_radius_m, topo_interval_m, topo_hole_m, topo_seeds),
            progress,
        )
        return
    if model is None or data is None:
        raise click.UsageError(MODES)
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
        progress=progress_report(progress),
    )
    for note in result.notes:
        click.echo(f"Note: {note}", err=True)
    click.echo(result.table())
    if out is not None:
        with plan:
            write_evaluation(result, plan.stage(out))
        click.echo(f"-> {out}")


def _compare(
    truth: Path,
    pred: Path,
    truth_layer: str | None,
    pred_layer: str | None,
    aoi: Path | None,
    aoi_layer: str | None,
    prob: Path | None,
    out: Path | None,
    errors: Path | None,
    buffer_m: float,
    snap_m: float,
    crossing_rule: tuple[str, str | None],
    topo: tuple[float, float, float, int],
    progress: str,
) -> None:
    """The layer mode: compare, print, write the report and the error layers."""
    from roadkd.compare import CompareSettings, compare_layers, write_errors, write_report
    from roadkd.io import OutputPlan
    from roadkd.metrics.topo import TopoSettings

    plan = OutputPlan()
    for path, what in ((truth, "truth"), (pred, "prediction"), (aoi, "AOI"), (prob, "--prob")):
        if path is not None:
            plan.add_input(path, what)
    if out is not None:
        plan.add(out, "--out", (".json",))
    if errors is not None:
        plan.add(errors, "--errors", (".gpkg",))
    comparison = compare_layers(
        truth,
        pred,
        truth_layer=truth_layer,
        pred_layer=pred_layer,
        aoi=aoi,
        aoi_layer=aoi_layer,
        prob=prob,
        settings=CompareSettings(
            buffer_m=buffer_m,
            snap_m=snap_m,
            topo=TopoSettings(*topo),
            crossings=crossing_rule[0],
            level_field=crossing_rule[1],
        ),
        progress=progress_report(progress),
    )
    click.echo(comparison.table())
    with plan:
        if errors is not None:
            write_errors(comparison, plan.stage(errors))
        if out is not None:
            write_report(comparison, plan.stage(out))
    for target in plan.targets:
        click.echo(f"-> {target}")
