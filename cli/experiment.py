"""`roadkd experiment`: every method at every labelled ratio, as a table and figures."""

from pathlib import Path

import click


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
    type=click.FloatRange(0, 1, min_open=True),
    help="Run only this labelled ratio (repeatable); default: the file's ratios.",
)
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def experiment(config: Path, ratios: tuple[float, ...], overrides: tuple[str, ...]) -> None:
    """Run (or resume) an experiment; OVERRIDES go to every training run."""
    from roadkd.experiment import Experiment, run_experiment

    settings = Experiment.from_yaml(config, list(overrides), list(ratios))
    rows = run_experiment(settings, log=lambda m: click.echo(f"[experiment] {m}"))
    click.echo(f"{len(rows)} rows -> {Path(settings.out) / 'table.md'}")
