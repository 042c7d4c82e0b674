"""Write road layers to GeoJSON (WGS84, RFC 7946), GeoPackage, Shapefile or GeoParquet.

A GeoPackage that exists already is updated, not replaced: roadkd's layers in it are
replaced and every other layer stays (the file is copied, updated and moved back, so a
failure leaves the old file as it was).
"""

import json
import os
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
from pyogrio.errors import DataLayerError, DataSourceError, FieldError, GeometryError

from ..errors import RoadkdError
from ..io import OutputPlan

#: Extensions ``write_vectors`` understands.
SUPPORTED = (".geojson", ".json", ".gpkg", ".shp", ".parquet")

#: roadkd's own layers, by role: the geometry type each declares even when empty (an
#: empty GeoPackage or Shapefile layer of "Unknown" type confuses GIS tools).
LAYER_GEOMETRY = {"centerlines": "LineString", "surface": "Polygon"}

_OGR_ERRORS = (OSError, DataSourceError, DataLayerError, FieldError, GeometryError)


def layer_names(name: str | None = None) -> dict[str, str]:
    """The GeoPackage layer name of each of roadkd's layers.

    Args:
        name: the user's ``--layer``: centrelines go to ``NAME``, surfaces to
            ``NAME_surface``; None: ``centerlines`` and ``surface``.

    Returns:
        Role (``centerlines``, ``surface``) -> layer name.

    Raises:
        RoadkdError: for an empty name.
    """
    if name is None:
        return {role: role for role in LAYER_GEOMETRY}
    if not name.strip():
        raise RoadkdError("--layer must not be empty")
    return {"centerlines": name, "surface": f"{name}_surface"}


def _write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """Write one layer as an RFC 7946 FeatureCollection (longitude, latitude in WGS84)."""
    wgs84 = gdf.to_crs("EPSG:4326") if gdf.crs is not None else gdf
    if wgs84.empty:
        # GDAL would write a "crs" member and no geometry type; keep it plain and valid.
        path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
        return
    wgs84.to_file(path, driver="GeoJSON", engine="pyogrio", layer_options={"RFC7946": "YES"})


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


#: roadkd's fields longer than a Shapefile's 10-character dBase names, and what they become
#: there (rather than OGR's silent cut, e.g. ``min_confid``).
SHAPEFILE_FIELDS = {"min_confidence": "min_conf"}


def write_layers(
    path: str | Path,
    layers: Mapping[str, gpd.GeoDataFrame],
    names: Mapping[str, str] | None = None,
) -> None:
    """Write layers straight to ``path`` (a staged path of an :class:`OutputPlan`).

    ``.geojson`` (or ``.json``) holds the first layer in WGS84 longitude/latitude
    (RFC 7946), an empty layer as an empty FeatureCollection; ``.gpkg`` holds every layer
    under its name in the native CRS, replacing a layer of that name in an existing file
    and keeping the others; ``.shp`` holds the first layer in the native CRS with its
    ``.prj`` and other sidecar files; ``.parquet`` holds the first layer as GeoParquet in
    the native CRS.

    Args:
        path: output file (format by extension).
        layers: role or layer name -> GeoDataFrame (roles ``centerlines`` and ``surface``
            get their geometry type declared even when empty).
        names: role -> layer name in a GeoPackage (see :func:`layer_names`); default:
            the keys of ``layers``.

    Raises:
        RoadkdError: for no layers or a failed write.
    """
    target = Path(path)
    if not layers:
        raise RoadkdError(f"cannot write {target}: no layers given")
    suffix = target.suffix.lower()
    first = next(iter(layers))
    try:
        if suffix in (".geojson", ".json"):
            _write_geojson(layers[first], target)
        elif suffix == ".gpkg":
            for role, gdf in layers.items():
                gdf.to_file(
                    target,
                    layer=(names or {}).get(role, role),
                    driver="GPKG",
                    engine="pyogrio",
                    geometry_type=LAYER_GEOMETRY.get(role),
                )
        elif suffix == ".shp":
            layers[first].rename(columns=SHAPEFILE_FIELDS).to_file(
                target,
                driver="ESRI Shapefile",
                engine="pyogrio",
                geometry_type=LAYER_GEOMETRY.get(first),
            )
        elif suffix == ".parquet":
            _write_parquet(layers[first], target)
        else:
            raise RoadkdError(f"cannot write {target}: use one of {', '.join(SUPPORTED)}")
    except _OGR_ERRORS as err:
        raise RoadkdError(f"cannot write {target.name}: {err}") from err


def write_vectors(
    path: str | Path,
    layers: Mapping[str, gpd.GeoDataFrame],
    names: Mapping[str, str] | None = None,
) -> None:
    """Write one or more layers atomically; the format follows the extension.

    See :func:`write_layers` for the formats. Nothing is left half-written, and a failed
    write leaves an existing file as it was.

    Args:
        path: output file.
        layers: role or layer name -> GeoDataFrame.
        names: role -> GeoPackage layer name (default: the keys of ``layers``).

    Raises:
        RoadkdError: for an unsupported extension, no layers or an unwritable location.
    """
    target = check_output_path(path)
    if not layers:
        raise RoadkdError(f"cannot write {target}: no layers given")
    plan = OutputPlan()
    plan.add(target, "output", SUPPORTED)
    with plan:
        write_layers(plan.stage(target), layers, names)
