"""The words for pixel grids: a :class:`Grid` and the :class:`PixelWindow` s cut from it.

Every part of roadkd that cuts a raster into pieces (the datamodule's labelled blocks, the
from-vectors training blocks, inference windows, the vectoriser's blocks and mosaics)
speaks of them with these two names, in one field order: rows before columns, as numpy
indexes an array. A rasterio ``Window`` (columns first) appears only where rasterio is
called (:meth:`PixelWindow.to_rasterio`).
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

from affine import Affine
from rasterio.windows import Window

from .ground import PixelSteps, pixel_steps_m, step_area, step_lengths


class PixelWindow(NamedTuple):
    """A rectangle of pixels: (row, col) of its top-left pixel and its (rows, cols).

    A tuple, so it unpacks as ``row, col, rows, cols = window``.
    """

    row: int
    col: int
    rows: int
    cols: int

    @property
    def bottom(self) -> int:
        """The row just below the window."""
        return self.row + self.rows

    @property
    def right(self) -> int:
        """The column just right of the window."""
        return self.col + self.cols

    @property
    def slices(self) -> tuple[slice, slice]:
        """The window as (rows, cols) slices of its grid's array."""
        return slice(self.row, self.bottom), slice(self.col, self.right)

    def overlaps(self, other: "tuple[int, int, int, int]") -> bool:
        """Whether the two windows share a pixel."""
        row, col, rows, cols = other
        return (
            self.row < row + rows
            and row < self.bottom
            and self.col < col + cols
            and col < self.right
        )

    def intersection(self, other: "tuple[int, int, int, int]") -> "PixelWindow | None":
        """The pixels both windows hold (None: they share none)."""
        row, col, rows, cols = other
        top, left = max(self.row, row), max(self.col, col)
        bottom, right = min(self.bottom, row + rows), min(self.right, col + cols)
        if top >= bottom or left >= right:
            return None
        return PixelWindow(top, left, bottom - top, right - left)

    def shifted(self, row: int, col: int) -> "PixelWindow":
        """The window moved by (row, col) pixels: into a larger grid, or back out of it."""
        return PixelWindow(self.row + row, self.col + col, self.rows, self.cols)

    def transform(self, grid_transform: Affine) -> Affine:
        """The window's own transform, on a grid with ``grid_transform``."""
        corner: Affine = grid_transform @ Affine.translation(self.col, self.row)
        return corner

    def to_rasterio(self) -> Window:
        """The same pixels as a rasterio ``Window`` (col_off, row_off, width, height)."""
        return Window(self.col, self.row, self.cols, self.rows)


def block_edges(length_px: int, block_px: int) -> tuple[int, ...]:
    """Cut ``length_px`` pixels into ``max(1, length_px // block_px)`` near-equal pieces.

    Args:
        length_px: a grid's width or height in pixels.
        block_px: the smallest piece wanted.

    Returns:
        Pixel offsets of the edges, from 0 to ``length_px``; every piece is at least
        ``block_px`` long when ``length_px >= block_px`` (else there is one piece).
    """
    pieces = max(1, length_px // block_px)
    return tuple(round(i * length_px / pieces) for i in range(pieces + 1))


@dataclass(frozen=True)
class Grid:
    """The pixel grid of a raster (a scene, a probability, a mosaic of them).

    Attributes:
        height: rows.
        width: columns.
        transform: affine transform of pixel (col, row) corners to the CRS.
        crs: the CRS as WKT (None: units are metres).
        steps_m: ground vectors of a column step and a row step (east, north metres,
            :func:`roadkd.ground.pixel_steps_m`), measured once for the whole grid so that
            every piece of it converts lengths and areas alike.
    """

    height: int
    width: int
    transform: Affine
    crs: str | None
    steps_m: PixelSteps

    @classmethod
    def of(cls, transform: Affine, crs: object | None, shape: tuple[int, int]) -> "Grid":
        """The grid of a raster with this transform, CRS (any form) and (rows, cols)."""
        wkt = None if crs is None else crs.to_wkt() if hasattr(crs, "to_wkt") else str(crs)
        return cls(shape[0], shape[1], transform, wkt, pixel_steps_m(transform, crs, shape))

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return self.height, self.width

    @property
    def size_m(self) -> tuple[float, float]:
        """Ground metres per column step and per row step (the sides' lengths)."""
        return step_lengths(self.steps_m)

    @property
    def pixel_area_m2(self) -> float:
        """Ground area of a pixel: the cross product of its sides (sheared grids too)."""
        return step_area(self.steps_m)

    @property
    def resolution_m(self) -> float:
        """Ground size of a pixel in metres: the side of a square of its area."""
        return math.sqrt(self.pixel_area_m2)

    @property
    def megapixels(self) -> float:
        """Pixels in the grid, in millions."""
        return self.height * self.width / 1e6

    @property
    def window(self) -> PixelWindow:
        """The whole grid as a window."""
        return PixelWindow(0, 0, self.height, self.width)
