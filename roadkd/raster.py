"""Open a raster to read it, or fail with roadkd's one message for each way it can fail.

Every reader of a user's raster (scenes, probability rasters, masks, training scenes)
opens it here, so that a missing file, a file GDAL cannot open and a raster without a
coordinate reference system are said the same way whatever command met them. Failures
while pixels are read are :func:`roadkd.io.reading`'s.
"""

import os

import rasterio
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader

from .errors import RoadkdError
from .io import require_file


def open_raster(
    path: str | os.PathLike[str], what: str = "raster", georeferenced: bool = True
) -> DatasetReader:
    """Open a raster file for reading (use it as a context manager).

    Args:
        path: the file.
        what: how to name it in messages ("scene", "probability raster", ...).
        georeferenced: refuse a raster without a CRS.

    Returns:
        The open dataset.

    Raises:
        RoadkdError: if the file is missing, is not a raster GDAL can open, or (with
            ``georeferenced``) has no coordinate reference system.
    """
    raster = require_file(path, what)
    try:
        src = rasterio.open(raster)
    except RasterioError as err:
        message = f"cannot read {what} {raster}: not a raster GDAL can open ({err})"
        raise RoadkdError(message) from err
    if georeferenced and src.crs is None:
        src.close()
        raise RoadkdError(
            f"{what} {raster} has no coordinate reference system; georeference it first "
            "(e.g. gdal_edit.py -a_srs EPSG:XXXX)"
        )
    return src
