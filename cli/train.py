"""`roadkd train`: a thin wrapper passing every argument to LightningCLI (roadkd.training)."""

import click

from .options import progress_options, progress_report


@click.command(
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@progress_options
def train(args: tuple[str, ...], progress: str) -> None:
    """Train with LightningCLI: roadkd train [fit|validate|test|predict] --config X.yaml.

    Without a subcommand, fit is run. Dotted overrides (--trainer.max_epochs=3) and
    --ckpt_path (resume) work as in LightningCLI / TorchGeo. --progress (before or after
    the LightningCLI arguments): bar is Lightning's own progress bar; json counts the
    training steps as JSON lines on stderr in its place; none (--quiet) shows neither.
    """
    from roadkd.training import main

    main(list(args), progress=None if progress == "bar" else progress_report(progress))
