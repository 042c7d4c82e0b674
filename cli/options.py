"""Option types shared by the commands: every value is checked before any work starts.

A bad value is a usage error: click prints one ``Error: Invalid value for '--x': ...``
line and exits with status 2. Only click is imported here, so ``--help`` stays fast.
"""

import math
from typing import Any

import click


class FiniteFloatRange(click.FloatRange):
    """A float range that also refuses ``nan`` (which compares false with every bound)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse, refuse ``nan``/``inf``, then check the bounds."""
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


class TileSize(click.ParamType):
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


#: A probability threshold.
PROBABILITY = FiniteFloatRange(0, 1)
#: A length or area: finite and not negative.
METRES = FiniteFloatRange(min=0)
#: A count that must be at least one (batch size, scenes).
POSITIVE = click.IntRange(min=1)
#: Pixels of overlap: zero or more.
OVERLAP = click.IntRange(min=0)
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
    if not any(o is not None and str(o).lower().endswith(".gpkg") for o in outputs):
        raise click.BadParameter(
            "it names GeoPackage layers, but no output is a .gpkg.", param_hint="'--layer'"
        )
