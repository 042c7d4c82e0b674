"""OpenStreetMap road lines from an extract the user downloaded (.osm.pbf, .osm, any layer)."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import pyogrio
import rasterio
from pyogrio.errors import DataLayerError, DataSourceError

from ..errors import RoadkdError
from ..io import require_file
from ..layers import LINE_TYPES, read_layer
from .osm_layer import Box, osm_columns

#: Extensions read by GDAL's OSM driver.
OSM_DRIVER_SUFFIXES = (".pbf", ".osm")


@contextmanager
def _gdal_config(**options: str) -> Iterator[None]:
    before = {name: pyogrio.get_gdal_config_option(name) for name in options}
    pyogrio.set_gdal_config_options(options)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(before)


def read_osm_extract(path: str | Path, boxes: Sequence[Box]) -> gpd.GeoDataFrame:
    """The ``highway`` lines of an extract near the boxes, in :func:`osm_columns` form.

    ``.osm.pbf`` and ``.osm`` files are read through GDAL's OSM driver (its ``lines`` layer),
    anything else as a line layer GDAL reads.

    Raises:
        RoadkdError: if the file cannot be read, holds no road near the boxes, or is not an
            OpenStreetMap road layer.
    """
    source = require_file(path, "OpenStreetMap extract")
    west = min(b[0] for b in boxes)
    south = min(b[1] for b in boxes)
    east = max(b[2] for b in boxes)
    north = max(b[3] for b in boxes)
    if source.suffix.lower() in OSM_DRIVER_SUFFIXES:
        if "OSM" not in pyogrio.list_drivers():
            raise RoadkdError(
                f"this GDAL cannot read {source.name} (no OSM driver): convert it to a "
                "GeoPackage first (e.g. ogr2ogr roads.gpkg extract.osm.pbf lines)"
            )
        try:
            # Extracts cut by some tools list nodes out of order: GDAL's own index refuses them.
            with _gdal_config(OSM_USE_CUSTOM_INDEXING="NO"):
                frame = gpd.read_file(
                    source, layer="lines", engine="pyogrio", bbox=(west, south, east, north)
                )
        except (DataSourceError, DataLayerError, OSError, ValueError) as err:
            raise RoadkdError(
                f"cannot read OpenStreetMap extract {source}: {err}".splitlines()[0]
            ) from err
        frame = frame[frame.geometry.notna() & frame.geom_type.isin(LINE_TYPES)]
    else:
        near = [(rasterio.crs.CRS.from_epsg(4326), box) for box in boxes]
        frame = read_layer(source, LINE_TYPES, "OpenStreetMap extract", near=near)
    frame = frame.explode(index_parts=False, ignore_index=True)
    roads = osm_columns(frame.to_crs("EPSG:4326"))
    if roads.empty:
        raise RoadkdError(f"OpenStreetMap extract {source} has no highway line over the scenes")
    return roads
