"""The ``roadkd`` command: a click group whose subcommands live one per module."""

import importlib
import signal
import sys
from types import FrameType
from typing import Any

import click

from roadkd import __version__
from roadkd.errors import RoadkdError
from roadkd.io import apply_gdal_defaults, remove_stale_scratch

#: Exit status after SIGTERM, as a shell reports a process killed by it (128 + 15).
SIGTERM_EXIT = 128 + signal.SIGTERM


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM so that every ``with`` block cleans up.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` swallows it;
    not a KeyboardInterrupt, so that click and Lightning do not turn it into exit 1.
    """


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    # A second SIGTERM must not interrupt the clean-up of the first; SIGKILL still works.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated


def handle_sigterm() -> None:
    """Handle SIGTERM like Ctrl-C: staged outputs and scratch folders are removed."""
    signal.signal(signal.SIGTERM, _raise_terminated)


#: Subcommand name -> "module:attribute" of its click command; imported on first use so
#: that ``roadkd --help`` and light commands do not pay for torch and Lightning imports.
COMMANDS: dict[str, str] = {
    "data": "roadkd_cli.data:data",
    "train": "roadkd_cli.train:train",
    "predict": "roadkd_cli.predict:predict",
    "vectorize": "roadkd_cli.vectorize:vectorize",
    "evaluate": "roadkd_cli.evaluate:evaluate",
    "export": "roadkd_cli.export:export",
    "experiment": "roadkd_cli.experiment:experiment",
}

HELP = {
    "data": "Make or import datasets (synthetic scenes, the RoadNet release).",
    "train": "Train teachers, the SSLKD student or a baseline (LightningCLI).",
    "predict": "Detect roads in whole scenes and write road vectors.",
    "vectorize": "Turn a road probability or mask raster into road vectors.",
    "evaluate": "Score a model on a split, or a road layer against your own (APLS, TOPO).",
    "export": "Export a trained student to ONNX for QGIS (Deepness) or onnxruntime.",
    "experiment": "Compare SSLKD with the baselines at every labelled ratio (table, plots).",
}


class LazyGroup(click.Group):
    """A click group that imports each subcommand only when it is run or helped."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Return the subcommand names in the order they are declared."""
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import and return the subcommand ``cmd_name``."""
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List subcommands with their one-line help without importing them."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, HELP[name]) for name in COMMANDS])

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand, turning user errors into one clear message."""
        try:
            return super().invoke(ctx)
        except RoadkdError as err:
            raise click.ClickException(str(err)) from err


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="roadkd")
def cli() -> None:
    """roadkd: find roads in aerial imagery and hand GIS people clean road vectors."""


def main() -> None:
    """Console-script entry point.

    SIGTERM (a cancelled QGIS run, a job scheduler, ``kill``) ends the run like Ctrl-C:
    staged outputs and scratch folders are removed, existing outputs stay, exit 143.
    Scratch folders of earlier runs that were killed outright are removed first.
    """
    apply_gdal_defaults()
    handle_sigterm()
    remove_stale_scratch()
    try:
        cli()
    except Terminated:
        click.echo("Error: stopped by SIGTERM; unfinished outputs were removed", err=True)
        sys.exit(SIGTERM_EXIT)


if __name__ == "__main__":
    main()
