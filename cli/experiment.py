"""`roadkd experiment`: every method at every labelled ratio, as a table and figures."""

from pathlib import Path

import click

from .options import SEED, FiniteFloatRange


@click.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--config",
    "config",
    required=True,
    type=click.Path(path_type=Path),
    help="Experiment file, e.g. configs/bench/experiment.yaml.",
)
@click.option(
    "--ratio",
    "ratios",
    multiple=True,
    type=FiniteFloatRange(0, 1, min_open=True),
    help="Run only this labelled ratio (repeatable); default: the file's ratios.",
)
@click.option(
    "--method",
    "methods",
    multiple=True,
    help="Compare only this method (repeatable), e.g. sslkd; default: the file's methods.",
)
@click.option(
    "--seed",
    "seeds",
    multiple=True,
    type=SEED,
    help="Run only this seed (repeatable); default: the file's seeds.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Results folder instead of the file's.",
)
@click.option(
    "--report-only",
    is_flag=True,
    help="Train nothing: write the table and figures from the finished runs (here or in "
    "the file's record) and name the unfinished ones.",
)
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def experiment(
    config: Path,
    ratios: tuple[float, ...],
    methods: tuple[str, ...],
    seeds: tuple[int, ...],
    out: Path | None,
    report_only: bool,
    overrides: tuple[str, ...],
) -> None:
    """Run (or resume) an experiment; OVERRIDES go to every training run.

    Every method runs once per seed at every ratio, each in its own run folder
    (runs/<method>_r<ratio>_s<seed>); the table shows means and standard deviations.
    """
    from roadkd.experiment import Experiment, run_experiment

    settings = Experiment.from_yaml(
        config, list(overrides), list(ratios), out, list(methods), list(seeds)
    )
    rows = run_experiment(
        settings, log=lambda m: click.echo(f"[experiment] {m}"), train=not report_only
    )
    click.echo(f"{len(rows)} runs -> {Path(settings.out) / 'table.md'}")
