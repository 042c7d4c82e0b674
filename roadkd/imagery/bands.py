"""Band choice: which of a raster's bands are red, green and blue for the model."""

from pathlib import Path

from rasterio.enums import ColorInterp
from rasterio.io import DatasetReader

from ..errors import RoadkdError

RGB = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)


def parse_bands(text: str) -> tuple[int, ...]:
    """Parse a band list such as ``"3,2,1"`` (1-based, comma-separated).

    Raises:
        RoadkdError: if an item is not a positive integer.
    """
    try:
        bands = tuple(int(item) for item in text.split(","))
    except ValueError:
        bands = ()
    if not bands or min(bands) < 1:
        raise RoadkdError(f"bands must be 1-based numbers separated by commas, got {text!r}")
    return bands


# -- planning ---------------------------------------------------------------------------------


def choose_bands(
    src: DatasetReader, in_channels: int, bands: tuple[int, ...] | None
) -> tuple[tuple[int, ...], str]:
    """Pick the bands to feed a model.

    Args:
        src: the open scene.
        in_channels: bands the model needs.
        bands: the user's 1-based choice, or None.

    Returns:
        1-based band numbers in model order, and how they were chosen.

    Raises:
        RoadkdError: if the choice does not fit the scene or the model.
    """
    name = Path(src.name).name
    if bands is not None:
        if len(bands) != in_channels:
            raise RoadkdError(
                f"--bands gives {len(bands)} band(s) but the model needs {in_channels}"
            )
        wrong = [b for b in bands if not 1 <= b <= src.count]
        if wrong:
            raise RoadkdError(
                f"--bands {','.join(map(str, bands))}: {name} has bands 1-{src.count} only"
            )
        return tuple(bands), "--bands"
    if src.count < in_channels:
        raise RoadkdError(f"{name} has {src.count} band(s) but the model needs {in_channels}")
    interp = list(src.colorinterp)
    if in_channels == len(RGB) and all(c in interp for c in RGB):
        return tuple(interp.index(c) + 1 for c in RGB), "by colour interpretation"
    return tuple(range(1, in_channels + 1)), "the first bands"
