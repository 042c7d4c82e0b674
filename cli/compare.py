"""`roadkd evaluate layers`: a road layer against a reference one, in metres."""

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from roadkd.metrics.options import CROSSING_MODES, CompareSettings, TopoSettings

from .options import POSITIVE, FiniteFloatRange, progress_options, progress_report, stack

#: A tolerance or distance that must be more than zero.
POSITIVE_METRES = FiniteFloatRange(min=0, min_open=True)

DEFAULTS = CompareSettings()


def compare_settings(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that make a :class:`CompareSettings`, passed as ``settings``."""

    @functools.wraps(command)
    def with_settings(
        *args: Any,
        buffer_m: float,
        snap_m: float,
        crossings: str,
        level_field: str | None,
        topo_radius_m: float,
        topo_interval_m: float,
        topo_hole_m: float,
        topo_seeds: int,
        **kwargs: Any,
    ) -> Any:
        topo = TopoSettings(topo_radius_m, topo_interval_m, topo_hole_m, topo_seeds)
        settings = CompareSettings(
            buffer_m=buffer_m, snap_m=snap_m, topo=topo, crossings=crossings,
            level_field=level_field,
        )  # fmt: skip
        return command(*args, settings=settings, **kwargs)

    topo = DEFAULTS.topo
    return stack(
        click.option(
            "--buffer-m",
            type=POSITIVE_METRES,
            default=DEFAULTS.buffer_m,
            show_default=True,
            help="A stretch is found when the other layer is within this.",
        ),
        click.option(
            "--snap-m",
            type=POSITIVE_METRES,
            default=DEFAULTS.snap_m,
            show_default=True,
            help="Line ends closer than this are one junction.",
        ),
        click.option(
            "--crossings",
            type=click.Choice(CROSSING_MODES),
            default=DEFAULTS.crossings,
            show_default=True,
            help="Where lines cross without a shared vertex: a junction, unless their "
            "OSM-style bridge/tunnel/layer (or --level-field) differ (auto); always a "
            "junction; never (apart).",
        ),
        click.option(
            "--level-field",
            help="With --crossings auto: the field giving each line's level, instead of "
            "bridge/tunnel/layer.",
        ),
        click.option(
            "--topo-radius-m",
            type=POSITIVE_METRES,
            default=topo.radius_m,
            show_default=True,
            help="TOPO: how far along the roads each seed explores.",
        ),
        click.option(
            "--topo-interval-m",
            type=POSITIVE_METRES,
            default=topo.interval_m,
            show_default=True,
            help="TOPO: spacing of holes and marbles.",
        ),
        click.option(
            "--topo-hole-m",
            type=POSITIVE_METRES,
            default=topo.hole_m,
            show_default=True,
            help="TOPO: how near a marble must be to its hole.",
        ),
        click.option(
            "--topo-seeds",
            type=POSITIVE,
            default=topo.seeds,
            show_default=True,
            help="TOPO: seed points drawn along the truth.",
        ),
    )(with_settings)


@click.command()
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
@click.option(
    "--aoi",
    type=click.Path(path_type=Path),
    help="Polygon layer limiting both layers [default: the --prob extent, else the "
    "prediction's convex hull].",
)
@click.option("--aoi-layer", help="Layer of --aoi [default: its first polygon layer].")
@click.option(
    "--prob",
    type=click.Path(path_type=Path),
    help="The prediction's probability raster: default area, confidence on error stretches.",
)
@click.option("--out", type=click.Path(path_type=Path), help="Write the scores as JSON here.")
@click.option(
    "--errors",
    type=click.Path(path_type=Path),
    help="Write the 'missed' and 'false' stretches to this GeoPackage.",
)
@compare_settings
@progress_options
def layers(
    truth: Path | None,
    pred: Path | None,
    truth_layer: str | None,
    pred_layer: str | None,
    aoi: Path | None,
    aoi_layer: str | None,
    prob: Path | None,
    out: Path | None,
    errors: Path | None,
    settings: CompareSettings,
    progress: str,
) -> None:
    """Compare a road layer with a reference one (any GDAL line layers, any CRS).

    APLS, TOPO and length precision/recall within --buffer-m, in metres, in the data's
    UTM zone.
    """
    from roadkd.compare import compare_layers, write_errors, write_report
    from roadkd.formats import NAMED_LAYERS, REPORT
    from roadkd.io import OutputPlan

    if truth is None or pred is None:
        raise click.UsageError("comparing road layers needs both --truth and --pred")
    plan = OutputPlan()
    for path, what in ((truth, "truth"), (pred, "prediction"), (aoi, "AOI"), (prob, "--prob")):
        if path is not None:
            plan.add_input(path, what)
    if out is not None:
        plan.add(out, "--out", REPORT)
    if errors is not None:
        plan.add(errors, "--errors", NAMED_LAYERS)
    comparison = compare_layers(
        truth,
        pred,
        truth_layer=truth_layer,
        pred_layer=pred_layer,
        aoi=aoi,
        aoi_layer=aoi_layer,
        prob=prob,
        settings=settings,
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
