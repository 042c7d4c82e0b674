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
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Results folder instead of the file's, e.g. for a run with another seed.",
)
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def experiment(
    config: Path, ratios: tuple[float, ...], out: Path | None, overrides: tuple[str, ...]
) -> None:
    """Run (or resume) an experiment; OVERRIDES go to every training run.

    Example, a second seed at 1/8 beside the first:

        roadkd experiment --config configs/bench/experiment.yaml --ratio 0.125
        --out results/bench_seed1 --seed_everything=1
    """
    from roadkd.experiment import Experiment, run_experiment

    settings = Experiment.from_yaml(config, list(overrides), list(ratios), out)
    rows = run_experiment(settings, log=lambda m: click.echo(f"[experiment] {m}"))
    click.echo(f"{len(rows)} rows -> {Path(settings.out) / 'table.md'}")
