"""Write road layers to GeoJSON (WGS84, RFC 7946), GeoPackage or Shapefile, atomically."""

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
from pyogrio.errors import DataLayerError, DataSourceError, FieldError, GeometryError

from ..errors import RoadkdError
from ..io import atomic_output

#: Extensions ``write_vectors`` understands.
SUPPORTED = (".geojson", ".json", ".gpkg", ".shp", ".parquet")

#: Geometry type of roadkd's own layers, declared even when a layer is empty (an
#: empty GeoPackage or Shapefile layer of "Unknown" type confuses GIS tools).
LAYER_GEOMETRY = {"centerlines": "LineString", "surface": "Polygon"}

#: Shapefile sidecars that a previous file of the same name may have left and that would
#: no longer match the new data (spatial indexes, encoding, projection).
STALE_SIDECARS = (".qix", ".sbn", ".sbx", ".cpg", ".prj")

_OGR_ERRORS = (OSError, DataSourceError, DataLayerError, FieldError, GeometryError)


def _write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """Write one layer as an RFC 7946 FeatureCollection (longitude, latitude in WGS84)."""
    wgs84 = gdf.to_crs("EPSG:4326") if gdf.crs is not None else gdf
    if wgs84.empty:
        # GDAL would write a "crs" member and no geometry type; keep it plain and valid.
        path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
        return
    wgs84.to_file(path, driver="GeoJSON", engine="pyogrio", layer_options={"RFC7946": "YES"})


def _write_shapefile(name: str, gdf: gpd.GeoDataFrame, target: Path) -> None:
    """Write a shapefile and its sidecars into a temporary folder, then move them in."""
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise RoadkdError(f"cannot write {target}: folder {folder} does not exist")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.stem}.", dir=folder))
    try:
        gdf.to_file(
            staging / target.name,
            driver="ESRI Shapefile",
            engine="pyogrio",
            geometry_type=LAYER_GEOMETRY.get(name),
        )
        written = {part.suffix.lower() for part in staging.iterdir()}
        # the .shp last: a reader never sees a new .shp with an old .dbf beside it
        for part in sorted(staging.iterdir(), key=lambda p: p.suffix.lower() == ".shp"):
            shutil.move(part, folder / part.name)
        for suffix in STALE_SIDECARS:
            stale = target.with_suffix(suffix)
            if suffix not in written and stale.exists():
                stale.unlink()
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_parquet(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """Write one layer as GeoParquet, native CRS (compact and fast for large networks)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError as err:
        raise RoadkdError(
            f"cannot write {path.name}: GeoParquet needs pyarrow (pip install 'roadkd[parquet]')"
        ) from err
    gdf.to_parquet(path, index=False)


def check_output_path(path: str | Path) -> Path:
    """Check, before any work, that ``write_vectors`` can write to ``path``.

    Args:
        path: the output file.

    Returns:
        The path.

    Raises:
        RoadkdError: for an unsupported extension, or a folder that is missing or not
            writable.
    """
    target = Path(path)
    if target.suffix.lower() not in SUPPORTED:
        raise RoadkdError(f"cannot write {target}: use one of {', '.join(SUPPORTED)}")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise RoadkdError(f"cannot write {target}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise RoadkdError(f"cannot write {target}: folder {folder} is not writable")
    if target.is_dir():
        raise RoadkdError(f"cannot write {target}: it is a folder")
    return target


def write_vectors(path: str | Path, layers: Mapping[str, gpd.GeoDataFrame]) -> None:
    """Write one or more layers; the format follows the extension.

    ``.geojson`` (or ``.json``) holds the first layer in WGS84 longitude/latitude
    (RFC 7946), an empty layer as an empty FeatureCollection; ``.gpkg`` holds every layer
    under its name in the native CRS; ``.shp`` holds the first layer in the native CRS
    with its ``.prj`` and other sidecar files; ``.parquet`` holds the first layer as
    GeoParquet in the native CRS. Nothing is left half-written.

    Args:
        path: output file.
        layers: layer name -> GeoDataFrame (``centerlines`` and ``surface`` get their
            geometry type declared even when empty).

    Raises:
        RoadkdError: for an unsupported extension, no layers or an unwritable location.
    """
    target = check_output_path(path)
    suffix = target.suffix.lower()
    if not layers:
        raise RoadkdError(f"cannot write {target}: no layers given")
    name, first = next(iter(layers.items()))
    try:
        if suffix in (".geojson", ".json"):
            with atomic_output(target) as tmp:
                _write_geojson(first, tmp)
        elif suffix == ".gpkg":
            with atomic_output(target) as tmp:
                for layer, gdf in layers.items():
                    gdf.to_file(
                        tmp,
                        layer=layer,
                        driver="GPKG",
                        engine="pyogrio",
                        geometry_type=LAYER_GEOMETRY.get(layer),
                    )
        elif suffix == ".parquet":
            with atomic_output(target) as tmp:
                _write_parquet(first, tmp)
        else:
            _write_shapefile(name, first, target)
    except _OGR_ERRORS as err:
        raise RoadkdError(f"cannot write {target}: {err}") from err
