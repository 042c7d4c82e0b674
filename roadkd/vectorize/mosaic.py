"""Several adjacent rasters as one: a VRT mosaic, vectorised as one seamless network.

Roads that run from one scene into the next are then joined exactly as across block
seams, because the blocks (and their halos) simply read across scene borders. The rasters
must share a CRS and a pixel grid (the same pixel size, origins a whole number of pixels
apart), as tiles of one orthomosaic or scenes predicted by roadkd from such tiles do.
"""

import contextlib
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

import rasterio
from affine import Affine
from rasterio.errors import RasterioError

from ..errors import RoadkdError
from ..io import atomic_output, require_file
from .core import RoadVectors
from .options import DEFAULT_BLOCK, VectorizeOptions
from .run import vectorize_raster

#: How far (in pixels) origins may be from a whole number of pixels apart.
ALIGN_TOLERANCE_PX = 1e-3


def _placement(paths: list[Path]) -> tuple[Affine, str, str, list[tuple[Path, int, int, int, int]]]:
    """The mosaic's transform, CRS (WKT), data type and each raster's (col, row, w, h).

    Raises:
        RoadkdError: if a raster cannot be read or the rasters do not share a grid.
    """
    grids = []
    for path in paths:
        try:
            with rasterio.open(require_file(path, "raster")) as src:
                grids.append((path, src.transform, src.crs, src.dtypes[0], src.width, src.height))
        except RasterioError as err:
            raise RoadkdError(f"cannot read {path}: not a raster GDAL can open ({err})") from err
    _, first, crs, dtype, _, _ = grids[0]
    if crs is None:
        raise RoadkdError(f"{paths[0]} has no coordinate reference system; georeference it first")
    if first.b or first.d:
        raise RoadkdError(f"{paths[0]} is rotated: warp the rasters to a north-up grid first")
    placements = []
    for path, transform, other_crs, _, width, height in grids:
        if not grids_align([(first, crs, 0, 0), (transform, other_crs, width, height)]):
            raise RoadkdError(
                f"{path} is not on the grid of {paths[0]} (CRS, pixel size and pixel-aligned "
                "origins must match to join roads across them); warp it first, e.g. with "
                "gdalwarp -tap -tr"
            )
        col = round((transform.c - first.c) / first.a)
        row = round((transform.f - first.f) / first.e)
        placements.append((path, col, row, width, height))
    left = min(col for _, col, _, _, _ in placements)
    top = min(row for _, _, row, _, _ in placements)
    origin = first @ (left, top)
    transform = Affine(first.a, 0, origin[0], 0, first.e, origin[1])
    shifted = [(p, col - left, row - top, w, h) for p, col, row, w, h in placements]
    return transform, crs.to_wkt(), dtype, shifted


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


def write_mosaic(paths: list[Path], out: Path) -> Path:
    """Write a VRT that mosaics band 1 of ``paths`` on their common grid.

    Pixels no raster covers are nodata (NaN for float rasters, 0 otherwise). Sources are
    referenced by absolute path, so the VRT may live anywhere the readers can see them.

    Raises:
        RoadkdError: if the rasters do not share a grid, or the VRT cannot be written.
    """
    transform, wkt, dtype, placed = _placement(paths)
    width = max(col + w for _, col, _, w, _ in placed)
    height = max(row + h for _, _, row, _, h in placed)
    data_type = {"float32": "Float32", "float64": "Float64", "uint8": "Byte"}.get(dtype)
    if data_type is None:
        raise RoadkdError(f"{paths[0]} is {dtype}: expected float32/float64 probability or uint8")
    nodata = "nan" if dtype.startswith("float") else "0"
    sources = "".join(
        f"""
    <ComplexSource>
      <SourceFilename relativeToVRT="0">{escape(str(path.resolve()))}</SourceFilename>
      <SourceBand>1</SourceBand>
      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>
      <DstRect xOff="{col}" yOff="{row}" xSize="{w}" ySize="{h}"/>
    </ComplexSource>"""
        for path, col, row, w, h in placed
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
    progress: bool = False,
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
