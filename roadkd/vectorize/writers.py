"""Write road layers to GeoJSON (WGS84, RFC 7946), GeoPackage or Shapefile, atomically."""

import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd

from ..errors import RoadkdError
from ..io import atomic_output

SUPPORTED = (".geojson", ".json", ".gpkg", ".shp")


def _write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> None:
    wgs84 = gdf.to_crs("EPSG:4326") if gdf.crs is not None else gdf
    if wgs84.empty:
        # An empty layer is still a valid FeatureCollection.
        path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
        return
    wgs84.to_file(path, driver="GeoJSON", engine="pyogrio", layer_options={"RFC7946": "YES"})


def write_vectors(path: str | Path, layers: Mapping[str, gpd.GeoDataFrame]) -> None:
    """Write one or more layers; the format follows the extension.

    ``.geojson`` holds the first layer in WGS84 longitude/latitude (RFC 7946); ``.gpkg``
    holds every layer under its name in the native CRS; ``.shp`` holds the first layer in
    the native CRS with its ``.prj`` and other sidecar files. Nothing is left half-written.

    Args:
        path: output file.
        layers: layer name -> GeoDataFrame.

    Raises:
        RoadkdError: for an unsupported extension or an unwritable location.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in SUPPORTED:
        raise RoadkdError(f"cannot write {target}: use one of {', '.join(SUPPORTED)}")
    first = next(iter(layers.values()))
    try:
        if suffix in (".geojson", ".json"):
            with atomic_output(target) as tmp:
                _write_geojson(first, tmp)
        elif suffix == ".gpkg":
            with atomic_output(target) as tmp:
                for layer, gdf in layers.items():
                    gdf.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio")
        else:
            _write_shapefile(first, target)
    except OSError as err:
        raise RoadkdError(f"cannot write {target}: {err}") from err


def _write_shapefile(gdf: gpd.GeoDataFrame, target: Path) -> None:
    """Write a shapefile and its sidecars into a temporary folder, then move them in."""
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise RoadkdError(f"cannot write {target}: folder {folder} does not exist")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.stem}.", dir=folder))
    try:
        gdf.to_file(staging / target.name, driver="ESRI Shapefile", engine="pyogrio")
        for part in staging.iterdir():
            shutil.move(part, folder / part.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
