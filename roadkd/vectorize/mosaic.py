"""Several adjacent rasters as one: a VRT mosaic, vectorised as one seamless network.

Roads that run from one scene into the next are then joined exactly as across block
seams, because the blocks (and their halos) simply read across scene borders. The rasters
must share a CRS and a pixel grid (the same pixel size, origins a whole number of pixels
apart), as tiles of one orthomosaic or scenes predicted by roadkd from such tiles do.
"""

import contextlib
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

from affine import Affine

from ..errors import RoadkdError
from ..grid import PixelWindow
from ..io import atomic_output
from ..progress import Progress
from ..raster import open_raster
from .options import DEFAULT_BLOCK, VectorizeOptions
from .result import RoadVectors
from .run import vectorize_raster

#: How far (in pixels) origins may be from a whole number of pixels apart.
ALIGN_TOLERANCE_PX = 1e-3


def place_grids(
    grids: list[tuple[Affine, object, int, int]],
) -> tuple[Affine, list[PixelWindow]]:
    """The mosaic of grids (transform, CRS, width, height) on one pixel grid.

    Returns:
        The mosaic's transform and each grid's window in it.

    Raises:
        RoadkdError: if the grids are rotated or do not share a CRS and a pixel grid.
    """
    first = grids[0][0]
    if first.b or first.d:
        raise RoadkdError("a raster is rotated: warp the rasters to a north-up grid first")
    if not grids_align(grids):
        raise RoadkdError("the rasters are not on one grid")
    places = [
        PixelWindow(round((t.f - first.f) / first.e), round((t.c - first.c) / first.a), h, w)
        for t, _, w, h in grids
    ]
    top = min(place.row for place in places)
    left = min(place.col for place in places)
    origin = first @ (left, top)
    transform = Affine(first.a, 0, origin[0], 0, first.e, origin[1])
    return transform, [place.shifted(-top, -left) for place in places]


def _placement(paths: list[Path]) -> tuple[Affine, str, str, list[PixelWindow]]:
    """The mosaic's transform, CRS (WKT), data type and each raster's window in it.

    Raises:
        RoadkdError: if a raster cannot be read or the rasters do not share a grid.
    """
    grids = []
    for path in paths:
        with open_raster(path) as src:
            grids.append((path, src.transform, src.crs, src.dtypes[0], src.width, src.height))
    _, first, crs, dtype, _, _ = grids[0]
    if first.b or first.d:
        raise RoadkdError(f"{paths[0]} is rotated: warp the rasters to a north-up grid first")
    for path, transform, other_crs, _, width, height in grids:
        if not grids_align([(first, crs, 0, 0), (transform, other_crs, width, height)]):
            raise RoadkdError(
                f"{path} is not on the grid of {paths[0]} (CRS, pixel size and pixel-aligned "
                "origins must match to join roads across them); warp it first, e.g. with "
                "gdalwarp -tap -tr"
            )
    transform, windows = place_grids([(t, c, w, h) for _, t, c, _, w, h in grids])
    return transform, crs.to_wkt(), dtype, windows


def grids_align(grids: list[tuple[Affine, object, int, int]]) -> bool:
    """Whether grids (transform, CRS, width, height) share a CRS, pixel size and alignment."""
    first, crs = grids[0][0], grids[0][1]
    if first.b or first.d:
        return False
    for transform, other, _, _ in grids:
        col = (transform.c - first.c) / first.a
        row = (transform.f - first.f) / first.e
        if (
            other != crs
            or transform.b
            or transform.d
            or not math.isclose(transform.a, first.a, rel_tol=1e-9)
            or not math.isclose(transform.e, first.e, rel_tol=1e-9)
            or abs(col - round(col)) >= ALIGN_TOLERANCE_PX
            or abs(row - round(row)) >= ALIGN_TOLERANCE_PX
        ):
            return False
    return True


def share_grid(paths: list[Path]) -> bool:
    """Whether rasters share a CRS and a pixel grid (so that a mosaic can join them)."""
    try:
        _placement(paths)
    except RoadkdError:
        return False
    return True


def write_mosaic(paths: list[Path], out: Path, relative: bool = False) -> Path:
    """Write a VRT that mosaics band 1 of ``paths`` on their common grid.

    Pixels no raster covers are nodata (NaN for float rasters, 0 otherwise). Sources are
    referenced by absolute path, so the VRT may live anywhere the readers can see them,
    or with ``relative`` by their path from the VRT's folder, so that the VRT and its
    rasters may be moved together (the probability blocks of ``roadkd predict``).

    Raises:
        RoadkdError: if the rasters do not share a grid, or the VRT cannot be written.
    """
    transform, wkt, dtype, places = _placement(paths)
    width = max(place.right for place in places)
    height = max(place.bottom for place in places)
    data_type = {"float32": "Float32", "float64": "Float64", "uint8": "Byte"}.get(dtype)
    if data_type is None:
        raise RoadkdError(f"{paths[0]} is {dtype}: expected float32/float64 probability or uint8")
    nodata = "nan" if dtype.startswith("float") else "0"

    def reference(path: Path) -> str:
        if relative:
            return escape(os.path.relpath(path.resolve(), out.parent.resolve()))
        return escape(str(path.resolve()))

    sources = "".join(
        f"""
    <ComplexSource>
      <SourceFilename relativeToVRT="{int(relative)}">{reference(path)}</SourceFilename>
      <SourceBand>1</SourceBand>
      <SrcRect xOff="0" yOff="0" xSize="{p.cols}" ySize="{p.rows}"/>
      <DstRect xOff="{p.col}" yOff="{p.row}" xSize="{p.cols}" ySize="{p.rows}"/>
    </ComplexSource>"""
        for path, p in zip(paths, places, strict=True)
    )
    geotransform = ", ".join(repr(v) for v in transform.to_gdal())
    xml = f"""<VRTDataset rasterXSize="{width}" rasterYSize="{height}">
  <SRS>{escape(wkt)}</SRS>
  <GeoTransform>{geotransform}</GeoTransform>
  <VRTRasterBand dataType="{data_type}" band="1">
    <NoDataValue>{nodata}</NoDataValue>{sources}
  </VRTRasterBand>
</VRTDataset>
"""
    with atomic_output(out) as tmp:
        tmp.write_text(xml)
    return out


@contextlib.contextmanager
def mosaic_of(paths: list[Path], vrt: Path | None = None) -> Iterator[Path]:
    """One raster for ``paths``: the raster itself, or a VRT mosaic of them.

    Args:
        paths: rasters on a common grid.
        vrt: where to keep the mosaic (default: a temporary file, removed on exit).

    Yields:
        The path to read.

    Raises:
        RoadkdError: if the rasters do not share a grid.
    """
    if len(paths) == 1:
        yield paths[0]
        return
    with tempfile.TemporaryDirectory(prefix="roadkd-mosaic-") as scratch:
        yield write_mosaic(paths, vrt or Path(scratch) / "mosaic.vrt")


def vectorize_mosaic(
    paths: list[Path],
    options: VectorizeOptions | None = None,
    block: int | None = DEFAULT_BLOCK,
    workers: int = 1,
    progress: bool | Progress = False,
    scheduler: str | None = None,
    vrt: Path | None = None,
) -> RoadVectors:
    """Vectorise adjacent rasters as one network (one raster: ``vectorize_raster``).

    Args:
        paths: rasters on a common grid.
        options: vectorisation settings.
        block: block side in pixels.
        workers: local worker processes.
        progress: show a progress bar.
        scheduler: a Dask scheduler's address (its workers must see the rasters and
            ``vrt``).
        vrt: where to keep the mosaic (default: a temporary file, removed afterwards).

    Raises:
        RoadkdError: if the rasters do not share a grid, or for any raster error.
    """
    with mosaic_of(paths, vrt) as raster:
        return vectorize_raster(raster, options, block, workers, progress, scheduler)
