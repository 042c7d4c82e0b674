"""The OpenStreetMap road layer roadkd writes: its columns, its other tags, its source.

Whether the lines come from Overpass (:mod:`.overpass`) or an extract (:mod:`.osm_extract`),
they are one GeoPackage layer, :data:`LAYER`, with the same columns: ``osm_id``, the tags of
:data:`OSM_TAGS` and the other tags in GDAL's ``other_tags`` form; the layer's metadata
records where they came from (``roadkd.osm.*``).
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError

from ..errors import RoadkdError
from ..metrics.levels import HSTORE_PAIR

#: Tags kept as columns of their own; every other tag goes to ``other_tags``.
OSM_TAGS = ("highway", "name", "lanes", "bridge", "tunnel", "layer", "surface", "oneway", "service")
#: Name of the GeoPackage layer of OpenStreetMap road lines.
LAYER = "osm_roads"
#: Metadata keys of that layer start with this.
META = "roadkd.osm."

#: A box in WGS84: (west, south, east, north).
Box = tuple[float, float, float, float]


def other_tags(tags: dict[str, str]) -> str | None:
    """Tags not kept as columns, in GDAL's OSM ``other_tags`` form."""
    rest = [(k, v) for k, v in sorted(tags.items()) if k not in OSM_TAGS]
    if not rest:
        return None
    return ",".join(f'"{_escape(k)}"=>"{_escape(v)}"' for k, v in rest)


def _escape(text: object) -> str:
    return str(text).replace("\\", "\\\\").replace('"', '\\"')


def _unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\\\", "\\")


def _hstore(text: object) -> dict[str, str]:
    if not isinstance(text, str):
        return {}
    return {_unescape(k): _unescape(v) for k, v in HSTORE_PAIR.findall(text)}


def _text(value: object) -> str | None:
    """A tag value as text (None for missing values and the text 'None' of some exports)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text if text and text not in ("None", "nan") else None


#: Geofabrik's shapefiles: ``fclass`` is the highway class, ``bridge``/``tunnel`` are T/F.
_FLAGS = {"T": "yes", "F": None}


def osm_columns(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """An OpenStreetMap road layer with :data:`OSM_TAGS` as columns and ``highway`` lines only.

    Tags inside GDAL's ``other_tags`` become columns; Geofabrik's ``fclass`` is read as
    ``highway``, its ``T``/``F`` flags as ``yes``/none.

    Raises:
        RoadkdError: if the layer has no ``highway`` (or ``fclass``) field.
    """
    if "highway" not in frame.columns and "fclass" not in frame.columns:
        fields = ", ".join(c for c in frame.columns if c != frame.geometry.name) or "none"
        raise RoadkdError(
            f"the layer has no highway field (fields: {fields}): it is not an OpenStreetMap "
            "road layer; give other road layers to 'roadkd data from-vectors --roads'"
        )
    other = frame["other_tags"].map(_hstore) if "other_tags" in frame.columns else None
    columns: dict[str, Any] = {
        "osm_id": frame["osm_id"].map(_text) if "osm_id" in frame.columns else None
    }
    for tag in OSM_TAGS:
        source = "fclass" if tag == "highway" and "highway" not in frame.columns else tag
        values = frame[source].map(_text) if source in frame.columns else None
        if values is None:
            values = pd.Series(None, index=frame.index, dtype=object)
        if other is not None:
            values = values.where(values.notna(), other.map(lambda t, k=tag: t.get(k)))
        if "fclass" in frame.columns and tag in ("bridge", "tunnel"):
            values = values.map(lambda v: _FLAGS.get(v, v) if isinstance(v, str) else v)
        columns[tag] = values.astype(object).where(values.notna(), None)
    if other is not None:
        columns["other_tags"] = other.map(
            lambda t: other_tags({k: v for k, v in t.items() if k not in OSM_TAGS})
        )
    else:
        columns["other_tags"] = None
    result = gpd.GeoDataFrame(columns, geometry=frame.geometry.to_numpy(), crs=frame.crs)
    return result[result["highway"].notna()].reset_index(drop=True)


@dataclass(frozen=True)
class OsmSource:
    """Where a layer of OpenStreetMap roads came from (its GeoPackage metadata).

    Attributes:
        source: the Overpass URL or the extract's path.
        fetched: when it was fetched or read (UTC, ISO 8601).
        boxes: the WGS84 boxes it covers.
        query: the Overpass query (None for an extract).
        osm_base: the date of the OpenStreetMap data the server answered from.
    """

    source: str
    fetched: str
    boxes: tuple[Box, ...]
    query: str | None = None
    osm_base: str | None = None

    def to_metadata(self) -> dict[str, str]:
        """GeoPackage layer metadata (text values)."""
        items = {
            "source": self.source,
            "fetched": self.fetched,
            "boxes": json.dumps([list(b) for b in self.boxes]),
            "licence": "(c) OpenStreetMap contributors, ODbL 1.0",
        }
        if self.query is not None:
            items["query"] = self.query
        if self.osm_base is not None:
            items["osm_base"] = self.osm_base
        return {META + k: v for k, v in items.items()}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str] | None) -> "OsmSource | None":
        """Read :meth:`to_metadata` back (None: not a layer roadkd wrote)."""
        items = {k[len(META) :]: v for k, v in (metadata or {}).items() if k.startswith(META)}
        try:
            boxes = tuple(
                (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
                for b in json.loads(items["boxes"])
            )
            return cls(
                items["source"], items["fetched"], boxes, items.get("query"), items.get("osm_base")
            )
        except (KeyError, ValueError, TypeError, IndexError):
            return None


def read_osm_source(path: str | Path) -> OsmSource | None:
    """The recorded source of an OpenStreetMap road GeoPackage roadkd wrote, else None."""
    try:
        info = pyogrio.read_info(path, layer=LAYER)
    except (DataSourceError, DataLayerError, OSError):
        return None
    return OsmSource.from_metadata(info.get("layer_metadata"))


def write_osm_layer(roads: gpd.GeoDataFrame, path: str | Path, source: OsmSource) -> None:
    """Write road lines as layer :data:`LAYER` of a GeoPackage, with their source recorded.

    Written straight to ``path`` (a staged or temporary path).

    Raises:
        RoadkdError: if it cannot be written.
    """
    try:
        pyogrio.write_dataframe(
            roads,
            path,
            layer=LAYER,
            driver="GPKG",
            geometry_type="LineString",
            layer_metadata=source.to_metadata(),
        )
    except (DataSourceError, DataLayerError, OSError) as err:
        raise RoadkdError(f"cannot write {path}: {err}") from err


def now_utc() -> str:
    """The current time in UTC, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")
