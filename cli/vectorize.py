"""`roadkd vectorize`: placeholder until its issue lands."""

import click

from roadkd.errors import RoadkdError


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def vectorize(args: tuple[str, ...]) -> None:
    """Not implemented yet."""
    raise RoadkdError("roadkd vectorize is not implemented yet")
