"""Reading a user's vector layers (road lines, areas) from any file GDAL reads.

``roadkd evaluate --truth/--pred/--aoi`` and ``roadkd data from-vectors --roads
--labelled-area`` read their layers here, so both accept the same files and say the same
things about the same mistakes.
"""

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from rasterio.crs import CRS
from rasterio.warp import transform_bounds

from .errors import RoadkdError
from .io import require_file

LINE_TYPES = ("LineString", "MultiLineString")
POLYGON_TYPES = ("Polygon", "MultiPolygon")
#: Bounds (left, bottom, right, top) in a CRS: where the features of interest lie.
Near = tuple[CRS, tuple[float, float, float, float]]


def _kind(types: Sequence[str]) -> str:
    return "line" if "LineString" in types else "polygon"


def pick_layer(path: Path, layer: str | None, types: Sequence[str], what: str) -> str:
    """Name of the layer of ``path`` to read: ``layer``, or the first of geometry ``types``.

    Raises:
        RoadkdError: if the file is not a vector file, has no such layer, or no layer of
            those geometry types.
    """
    try:
        layers = [(str(name), str(kind)) for name, kind in pyogrio.list_layers(path)]
    except (DataSourceError, DataLayerError, OSError) as err:
        if path.is_file() and path.stat().st_size == 0:
            # e.g. a SpaceNet label file of a chip without roads
            raise RoadkdError(f"{what} {path} is empty: it holds no feature") from err
        raise RoadkdError(f"cannot read {what} {path}: not a vector file GDAL can open") from err
    names = [name for name, _ in layers]
    if layer is not None:
        if layer not in names:
            raise RoadkdError(f"{what} {path} has no layer {layer!r} (it has {', '.join(names)})")
        return layer
    matching = [name for name, kind in layers if kind.split(" ")[0] in types]
    if matching:
        return matching[0]
    if len(layers) == 1 and layers[0][1] in ("Unknown", "GeometryCollection"):
        return layers[0][0]  # mixed geometries: the right ones are kept on read
    found = ", ".join(sorted({kind for _, kind in layers})) or "nothing"
    raise RoadkdError(f"{what} {path} is not a {_kind(types)} layer (it holds {found})")


def _bbox(near: Sequence[Near], crs: CRS) -> tuple[float, float, float, float]:
    """Bounds in ``crs`` of every ``near`` box, with a 10 % margin (roads reaching in)."""
    boxes = np.array([transform_bounds(box_crs, crs, *bounds) for box_crs, bounds in near])
    left, bottom = boxes[:, :2].min(0)
    right, top = boxes[:, 2:].max(0)
    margin = 0.1 * max(right - left, top - bottom)
    return (left - margin, bottom - margin, right + margin, top + margin)


def read_layer(
    path: str | Path,
    types: Sequence[str],
    what: str,
    layer: str | None = None,
    near: Sequence[Near] = (),
) -> gpd.GeoDataFrame:
    """Read the features of one geometry kind from a vector file GDAL reads.

    Features of other geometry types in the same layer (a GeoJSON export that mixes points
    and lines) are left out.

    Args:
        path: vector file (GeoPackage, Shapefile, GeoJSON, OSM PBF, ...).
        types: accepted geometry types (:data:`LINE_TYPES` or :data:`POLYGON_TYPES`).
        what: how to name the file in messages ("truth", "road layer", ...).
        layer: layer name (default: the first layer of an accepted type).
        near: read only features near these boxes (a country-wide extract stays on disk).

    Returns:
        The features of an accepted type, single-part, 2D, with their attributes, in the
        file's CRS.

    Raises:
        RoadkdError: if the file cannot be read, has no CRS, or has no such features
            (near the boxes).
    """
    source = require_file(path, what)
    name = pick_layer(source, layer, types, what)
    try:
        crs = pyogrio.read_info(source, layer=name).get("crs")
        if crs is None:
            raise RoadkdError(
                f"{what} {source} has no coordinate reference system; set one first "
                "(e.g. ogr2ogr -a_srs EPSG:XXXX)"
            )
        bbox = _bbox(near, CRS.from_user_input(crs)) if near else None
        frame = gpd.read_file(source, layer=name, engine="pyogrio", bbox=bbox)
    except (DataSourceError, DataLayerError, OSError, ValueError) as err:
        raise RoadkdError(f"cannot read layer {name!r} of {what} {source}: {err}") from err
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    found = sorted(set(frame.geom_type))
    frame = frame[frame.geom_type.isin(list(types))]
    if frame.empty and found:
        raise RoadkdError(
            f"{what} {source} is not a {_kind(types)} layer (it holds {', '.join(found)})"
        )
    if frame.empty and bbox is not None:
        raise RoadkdError(
            f"no {_kind(types)} of layer {name!r} of {what} {source} lies on the scenes "
            f"(it is in {crs}): check both places"
        )
    if frame.empty:
        raise RoadkdError(f"layer {name!r} of {what} {source} has no {_kind(types)} features")
    frame = frame.explode(index_parts=False, ignore_index=True)
    frame.geometry = shapely.force_2d(frame.geometry.to_numpy())  # heights play no part
    return frame
