"""Write road layers to GeoJSON (WGS84, RFC 7946), GeoPackage, Shapefile or GeoParquet.

A GeoPackage that exists already is updated, not replaced: roadkd's layers in it are
replaced and every other layer stays (the file is copied, updated and moved back, so a
failure leaves the old file as it was).

Written for city-sized networks: GeoJSON is streamed a chunk of features at a time (only
a chunk is ever reprojected or turned into text), and each GeoPackage layer's features
go in one SQLite transaction (pyogrio's writer) without a disk sync per commit, since
the file is a staged copy that only replaces the target once complete.
"""

import json
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError, FieldError, GeometryError

from ..errors import RoadkdError
from ..formats import GEOJSON, GEOPACKAGE, GEOPARQUET, SHAPEFILE, VECTOR_OUTPUTS
from ..io import OutputPlan

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


#: Features reprojected and written at a time when streaming GeoJSON.
GEOJSON_CHUNK = 10_000

#: Decimals of a degree in GeoJSON coordinates: about a centimetre (as GDAL's RFC 7946).
GEOJSON_DECIMALS = 7


def _properties(frame: Any) -> list[dict[str, Any]]:
    """A chunk's attributes as JSON-ready dicts (NaN and missing values as null)."""
    plain = frame.astype(object).where(frame.notna(), None)
    records: list[dict[str, Any]] = plain.to_dict("records")
    return [{key: _json_value(value) for key, value in record.items()} for record in records]


def _json_value(value: Any) -> Any:
    """A value ``json`` can write: numpy scalars as Python ones, non-finite numbers as null."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _geojson_features(gdf: gpd.GeoDataFrame) -> Iterator[str]:
    """Each feature of a layer as RFC 7946 GeoJSON text, a chunk at a time.

    Raises:
        _CrossesAntimeridian: if a geometry crosses the antimeridian (RFC 7946 wants
            it cut there, which GDAL's writer does).
    """
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    for start in range(0, len(gdf), GEOJSON_CHUNK):
        chunk = gdf.iloc[start : start + GEOJSON_CHUNK]
        geometry = chunk.geometry if chunk.crs is None else chunk.geometry.to_crs("EPSG:4326")
        shapes = np.asarray(geometry.values, dtype=object)
        bounds = shapely.bounds(shapes)
        if np.any(bounds[:, 2] - bounds[:, 0] > 180):
            raise _CrossesAntimeridian
        rounded = shapely.transform(shapes, lambda xy: np.round(xy, GEOJSON_DECIMALS))
        # RFC 7946: exterior rings counterclockwise, holes clockwise
        texts = shapely.to_geojson(shapely.orient_polygons(rounded))
        for text, properties in zip(texts, _properties(chunk[columns]), strict=True):
            props = json.dumps(properties, allow_nan=False)
            geometry_text = "null" if text is None else text  # a feature without geometry
            yield f'{{"type": "Feature", "properties": {props}, "geometry": {geometry_text}}}'


class _CrossesAntimeridian(Exception):
    """A geometry crosses the antimeridian: left to GDAL's writer, which cuts it there."""


def _stream_geojson(gdf: gpd.GeoDataFrame, out: TextIO) -> None:
    """Write a FeatureCollection feature by feature."""
    out.write('{"type": "FeatureCollection", "features": [')
    for k, feature in enumerate(_geojson_features(gdf)):
        out.write(",\n" if k else "\n")
        out.write(feature)
    out.write("\n]}\n" if len(gdf) else "]}")


def _write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """Write one layer as an RFC 7946 FeatureCollection (longitude, latitude in WGS84).

    Features are streamed to the file a chunk at a time. A layer with a line or polygon
    across the antimeridian goes through GDAL's writer instead, which cuts it there.
    """
    try:
        with path.open("w", encoding="utf-8") as out:
            _stream_geojson(gdf, out)
    except _CrossesAntimeridian:
        path.unlink()
        gdf.to_crs("EPSG:4326").to_file(
            path, driver="GeoJSON", engine="pyogrio", layer_options={"RFC7946": "YES"}
        )


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
    if target.suffix.lower() not in VECTOR_OUTPUTS:
        raise RoadkdError(f"cannot write {target}: use one of {', '.join(VECTOR_OUTPUTS)}")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise RoadkdError(f"cannot write {target}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise RoadkdError(f"cannot write {target}: folder {folder} is not writable")
    if target.is_dir():
        raise RoadkdError(f"cannot write {target}: it is a folder")
    return target


@contextmanager
def _no_sync_per_commit() -> Iterator[None]:
    """SQLite without a disk sync at each commit, for a GeoPackage being staged.

    The staged copy replaces its target only once complete (``OutputPlan``), so a
    sync per commit would buy nothing but time. GDAL's setting is restored afterwards.
    """
    option = "OGR_SQLITE_SYNCHRONOUS"
    before = pyogrio.get_gdal_config_option(option)
    pyogrio.set_gdal_config_options({option: "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({option: before})


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
        if suffix in GEOJSON:
            _write_geojson(layers[first], target)
        elif suffix == GEOPACKAGE:
            with _no_sync_per_commit():
                for role, gdf in layers.items():
                    # pyogrio writes a layer's features in one transaction
                    gdf.to_file(
                        target,
                        layer=(names or {}).get(role, role),
                        driver="GPKG",
                        engine="pyogrio",
                        geometry_type=LAYER_GEOMETRY.get(role),
                    )
        elif suffix == SHAPEFILE:
            layers[first].rename(columns=SHAPEFILE_FIELDS).to_file(
                target,
                driver="ESRI Shapefile",
                engine="pyogrio",
                geometry_type=LAYER_GEOMETRY.get(first),
            )
        elif suffix == GEOPARQUET:
            _write_parquet(layers[first], target)
        else:
            raise RoadkdError(f"cannot write {target}: use one of {', '.join(VECTOR_OUTPUTS)}")
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
    plan.add(target, "output", VECTOR_OUTPUTS)
    with plan:
        write_layers(plan.stage(target), layers, names)
