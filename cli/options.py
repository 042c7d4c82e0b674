"""Option types shared by the commands: every value is checked before any work starts.

An option that several commands take (``--threshold``, ``--tile``, ``--overlap``,
``--block``, ``--workers``, ``--seed``, ``--bands``, ``--scale``, ...) is declared here once,
so that it means the same and refuses the same values on each (tests/test_user_mistakes.py
checks it on every command that has it).

A bad value is a usage error: click prints one ``Error: Invalid value for '--x': ...``
line and exits with status 2. Only click and light modules are
imported here (the vectoriser's settings, the progress reports), so ``--help`` stays fast.
"""

import math
import sys
from collections.abc import Callable
from typing import Any

import click

from roadkd.progress import KINDS, Progress, progress_for


class FiniteFloatRange(click.FloatRange):
    """A float range that also refuses ``nan`` (which compares false with every bound)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse, refuse ``nan``/``inf``, then check the bounds."""
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


class TileSize(click.ParamType[int]):
    """A tile side in pixels that the networks accept: a positive multiple of 32."""

    name = "pixels"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse an int and check it is a positive multiple of the networks' stride."""
        from roadkd.inference.predict import TILE_MULTIPLE

        number = click.INT.convert(value, param, ctx)
        if number < TILE_MULTIPLE or number % TILE_MULTIPLE:
            nearest = max(1, round(number / TILE_MULTIPLE)) * TILE_MULTIPLE
            self.fail(
                f"{number} is not a positive multiple of {TILE_MULTIPLE} (the networks "
                f"halve the tile 5 times), e.g. {nearest}.",
                param,
                ctx,
            )
        return number


#: A road probability threshold: road at or above it. Above 0 (at 0 every pixel, nodata
#: and a mask's background too, would be road), at most 1 (a 0/1 mask's road).
THRESHOLD = FiniteFloatRange(0, 1, min_open=True)
#: A length or area: finite and not negative.
METRES = FiniteFloatRange(min=0)
#: A count that must be at least one (batch size, scenes).
POSITIVE = click.IntRange(min=1)
#: Pixels of overlap: zero or more.
OVERLAP = click.IntRange(min=0)
#: A share of the data held out (validation, test): at least 0, below 1.
SHARE = FiniteFloatRange(0, 1, max_open=True)
#: A random seed: what numpy's generators and Lightning's seed_everything accept (a seed
#: outside this Lightning silently replaces by a random one).
SEED = click.IntRange(0, 2**32 - 1)
TILE = TileSize()


def check_tile_overlap(tile: int | None, overlap: int | None) -> None:
    """Refuse an overlap as large as the tile (both given on the command line).

    Raises:
        click.BadParameter: if ``overlap >= tile``.
    """
    if tile is not None and overlap is not None and overlap >= tile:
        raise click.BadParameter(
            f"{overlap} px is not smaller than --tile {tile} px.", param_hint="'--overlap'"
        )


def check_gpkg_layer(layer: str | None, *outputs: Any) -> None:
    """``--layer`` names GeoPackage layers: refuse it when no output is a GeoPackage.

    Raises:
        click.BadParameter: for an empty name or no ``.gpkg`` output.
    """
    if layer is None:
        return
    if not layer.strip():
        raise click.BadParameter("the layer name is empty.", param_hint="'--layer'")
    from roadkd.formats import is_geopackage

    if not any(o is not None and is_geopackage(o) for o in outputs):
        raise click.BadParameter(
            "it names GeoPackage layers, but no output is a .gpkg.", param_hint="'--layer'"
        )


# --- options that several commands share: one declaration, one default --------------------

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def stack(*decorators: Decorator) -> Decorator:
    """Apply click option decorators in the order listed (as they would be written)."""

    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


def _bands(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    from roadkd.errors import RoadkdError
    from roadkd.imagery import parse_bands

    try:
        return parse_bands(value)
    except RoadkdError as err:
        raise click.BadParameter(str(err)) from err


def _scale(
    ctx: click.Context, param: click.Parameter, value: tuple[float, float] | None
) -> tuple[float, float] | None:
    if value is not None and not (all(map(math.isfinite, value)) and value[0] < value[1]):
        raise click.BadParameter(f"MIN MAX must be finite numbers with MIN < MAX, got {value}.")
    return value


#: --bands and --scale: how a scene's pixels become the model's (predict, from-vectors).
pixel_options = stack(
    click.option(
        "--bands",
        callback=_bands,
        help="Bands to use, 1-based, e.g. 3,2,1 (default: R,G,B by colour interpretation, "
        "else the first three).",
    ),
    click.option(
        "--scale",
        type=(float, float),
        default=None,
        callback=_scale,
        metavar="MIN MAX",
        help="Map pixel values MIN..MAX to 0-255 (default: uint8 as is; other types stretched "
        "per band, their 2-98 % percentiles onto those the model recorded of its training "
        "data, or onto 0-255 where there are none).",
    ),
)


def tile_option(
    help: str = "Tile size in px, a multiple of 32 (default: the model's).",
) -> Decorator:
    """--tile: a tile side in pixels (predict, evaluate, export)."""
    return click.option("--tile", type=TILE, default=None, help=help)


#: --tile, --overlap and --device of tiled inference (predict, evaluate).
inference_options = stack(
    tile_option(),
    click.option(
        "--overlap", type=OVERLAP, default=None, help="Tile overlap in px (default: tile/8)."
    ),
    click.option(
        "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
    ),
)

#: --layer: the GeoPackage layer names roadkd writes (predict, vectorize).
layer_option = click.option(
    "--layer",
    metavar="NAME",
    help="GeoPackage layer name of the centrelines (surfaces: NAME_surface) "
    "[default: centerlines, surface]. Other layers of an existing .gpkg are kept.",
)

#: --progress and --quiet: how the progress of a long job reaches the user (one parameter,
#: ``progress``: --quiet is --progress none). Turn it into a report with progress_report.
progress_options = stack(
    click.option(
        "--progress",
        type=click.Choice(KINDS),
        default="bar",
        show_default=True,
        help="bar: progress bars on a terminal; json: one JSON line a step on stderr "
        '({"event", "stage", "unit", "done", "total"}), for programs such as the QGIS '
        "plugin; none: nothing.",
    ),
    click.option("--quiet", "progress", flag_value="none", help="Same as --progress none."),
)


def progress_report(kind: str) -> Progress:
    """The report of ``--progress`` (:func:`roadkd.progress.progress_for`) for this stderr."""
    return progress_for(kind, terminal=sys.stderr.isatty())


def threshold_option(help: str, default: float | None = None) -> Decorator:
    """--threshold: road at or above this probability, in (0, 1] (:data:`THRESHOLD`).

    Args:
        help: the option's help text.
        default: the default (None: the vectoriser's, :class:`VectorizeOptions`).
    """
    from roadkd.vectorize.options import VectorizeOptions

    return click.option(
        "--threshold",
        type=THRESHOLD,
        default=VectorizeOptions.threshold if default is None else default,
        show_default=True,
        help=help,
    )


def seed_option(help: str, default: int = 0) -> Decorator:
    """--seed: a random seed (:data:`SEED`), for results that repeat exactly."""
    return click.option("--seed", default=default, show_default=True, type=SEED, help=help)


def scale_options(
    workers_help: str, scheduler_help: str, workers_default: str = "one per core"
) -> Decorator:
    """--block, --workers and --scheduler of blockwise, parallel work (predict, vectorize)."""
    from roadkd.vectorize.options import DEFAULT_BLOCK

    return stack(
        click.option(
            "--block",
            type=click.IntRange(min=256),
            default=DEFAULT_BLOCK,
            show_default=True,
            help="Vectorise in blocks of this many pixels (each read with a halo, stitched "
            "exactly).",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            default=None,
            help=f"{workers_help} [default: {workers_default}].",
        ),
        click.option("--scheduler", default=None, metavar="ADDRESS", help=scheduler_help),
    )
