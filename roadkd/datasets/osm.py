"""OpenStreetMap road lines over a user's scenes: fetched from Overpass or read from an extract.

``roadkd data osm`` and ``roadkd data from-osm`` get every ``highway`` line over the scenes'
extent, either from the Overpass API (one query, ``way["highway"]`` in each scene's
bounding box) or from an extract the user already downloaded (``.osm.pbf`` or ``.osm``
through GDAL's OSM driver; a GeoPackage, GeoJSON or Shapefile, e.g. Geofabrik's, through
pyogrio). Either way the lines are written to one GeoPackage layer, :data:`LAYER`, with the
same columns: ``osm_id``, the tags of :data:`OSM_TAGS` (``highway`` and ``lanes`` give the
widths of :mod:`roadkd.datasets.road_widths`; ``bridge``, ``tunnel`` and ``layer`` tell a
bridge from a junction), and the other tags in GDAL's ``other_tags`` form. The layer's
metadata records where the lines came from, the query and the date (``roadkd.osm.*``).

TorchGeo's ``OpenStreetMap`` dataset (0.10) does not fit: it turns every closed way into a
polygon (a roundabout, a loop road), fixes its endpoints and keeps only the tags as a
raster label, and swallows network errors.
"""

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from rasterio.errors import RasterioIOError
from rasterio.warp import transform_bounds

from .. import __version__
from ..errors import RoadkdError
from ..io import atomic_output, require_file
from ..layers import LINE_TYPES, read_layer
from ..metrics.levels import HSTORE_PAIR
from .from_vectors import FromVectorsSummary, write_dataset_from_vectors
from .layout import check_new_dataset_folder

#: The public Overpass API instance queried by default.
OVERPASS_URL = "https://overpass-api.de/api/interpreter"
#: Seconds the Overpass server may spend on the query (the connection waits a little more).
OVERPASS_TIMEOUT_S = 180
#: Tags kept as columns of their own; every other tag goes to ``other_tags``.
OSM_TAGS = ("highway", "name", "lanes", "bridge", "tunnel", "layer", "surface", "oneway", "service")
#: Name of the GeoPackage layer of OpenStreetMap road lines.
LAYER = "osm_roads"
#: Metadata keys of that layer start with this.
META = "roadkd.osm."
#: Margin around each scene's bounding box, in degrees (~50 m: roads reaching in).
MARGIN_DEG = 5e-4
#: What the user can do when Overpass cannot be used.
USE_EXTRACT = (
    "download an OpenStreetMap extract (.osm.pbf, .gpkg or .geojson) and give it with --osm FILE"
)
#: Extensions read by GDAL's OSM driver.
OSM_DRIVER_SUFFIXES = (".pbf", ".osm")

#: A box in WGS84: (west, south, east, north).
Box = tuple[float, float, float, float]
Log = Callable[[str], None]


def scene_boxes(scenes: Sequence[str | Path]) -> list[Box]:
    """Each scene's bounding box in WGS84 degrees, widened by :data:`MARGIN_DEG`.

    Raises:
        RoadkdError: for a scene that is not a georeferenced raster.
    """
    boxes = []
    for scene in scenes:
        path = require_file(scene, "scene")
        try:
            with rasterio.open(path) as src:
                if src.crs is None:
                    raise RoadkdError(f"{path} has no coordinate reference system")
                west, south, east, north = transform_bounds(
                    src.crs, "EPSG:4326", *src.bounds, densify_pts=21
                )
        except RasterioIOError as err:
            raise RoadkdError(f"cannot read {path}: not a raster GDAL can open") from err
        m = MARGIN_DEG
        boxes.append((west - m, max(south - m, -90.0), east + m, min(north + m, 90.0)))
    return boxes


def _covers(outer: Sequence[Box], inner: Sequence[Box]) -> bool:
    """Whether every inner box lies inside one of the outer boxes."""
    return all(
        any(o[0] <= b[0] and o[1] <= b[1] and b[2] <= o[2] and b[3] <= o[3] for o in outer)
        for b in inner
    )


# -- Overpass ------------------------------------------------------------------------------


def overpass_query(boxes: Sequence[Box], timeout_s: int = OVERPASS_TIMEOUT_S) -> str:
    """The Overpass QL query for every ``highway`` way in the boxes, with tags and geometry."""
    parts = [f'  way["highway"]({s:.7f},{w:.7f},{n:.7f},{e:.7f});' for w, s, e, n in boxes]
    return "\n".join([f"[out:json][timeout:{timeout_s}];", "(", *parts, ");", "out tags geom;"])


def fetch_overpass(
    query: str, url: str = OVERPASS_URL, timeout_s: int = OVERPASS_TIMEOUT_S
) -> dict[str, Any]:
    """Send a query to an Overpass API instance and return its JSON answer.

    Raises:
        RoadkdError: in one line naming ``--osm`` if the server cannot be reached, refuses
            the query, times out or answers with something else than the result.
    """
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode({"data": query}).encode(),
        headers={"User-Agent": f"roadkd/{__version__}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s + 30) as response:
            body = response.read()
    except urllib.error.HTTPError as err:
        raise RoadkdError(
            f"the Overpass API at {url} refused the query (HTTP {err.code} {err.reason}): "
            f"try again later, or {USE_EXTRACT}"
        ) from err
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise RoadkdError(
            f"cannot reach the Overpass API at {url} ({reason}): {USE_EXTRACT}"
        ) from err
    try:
        answer = json.loads(body)
        if not isinstance(answer, dict) or not isinstance(answer.get("elements"), list):
            raise ValueError("no elements")
    except (ValueError, UnicodeDecodeError) as err:
        raise RoadkdError(
            f"the Overpass API at {url} did not answer with a query result: {USE_EXTRACT}"
        ) from err
    remark = str(answer.get("remark") or "")
    if "error" in remark.lower():
        raise RoadkdError(f"the Overpass API at {url} failed the query ({remark}): {USE_EXTRACT}")
    return answer


def _other_tags(tags: dict[str, str]) -> str | None:
    """Tags not kept as columns, in GDAL's OSM ``other_tags`` form."""
    rest = [(k, v) for k, v in sorted(tags.items()) if k not in OSM_TAGS]
    if not rest:
        return None
    return ",".join(f'"{_escape(k)}"=>"{_escape(v)}"' for k, v in rest)


def _escape(text: object) -> str:
    return str(text).replace("\\", "\\\\").replace('"', '\\"')


def _unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\\\", "\\")


def overpass_lines(answer: dict[str, Any]) -> gpd.GeoDataFrame:
    """The ``highway`` ways of an Overpass answer (``out tags geom``) as lines in EPSG:4326.

    A closed way is a line (a roundabout) unless tagged ``area=yes`` (a pedestrian square).
    """
    rows: list[dict[str, Any]] = []
    lines = []
    for element in answer.get("elements", []):
        tags = element.get("tags") or {}
        if element.get("type") != "way" or "highway" not in tags or tags.get("area") == "yes":
            continue
        points = [(p["lon"], p["lat"]) for p in element.get("geometry") or [] if p]
        if len(points) < 2:
            continue
        rows.append(
            {
                "osm_id": str(element.get("id")),
                **{tag: tags.get(tag) for tag in OSM_TAGS},
                "other_tags": _other_tags(tags),
            }
        )
        lines.append(shapely.LineString(points))
    columns = ["osm_id", *OSM_TAGS, "other_tags"]
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=columns), geometry=lines, crs="EPSG:4326")


# -- extracts ------------------------------------------------------------------------------


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
            lambda t: _other_tags({k: v for k, v in t.items() if k not in OSM_TAGS})
        )
    else:
        columns["other_tags"] = None
    result = gpd.GeoDataFrame(columns, geometry=frame.geometry.to_numpy(), crs=frame.crs)
    return result[result["highway"].notna()].reset_index(drop=True)


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


# -- the cached layer ----------------------------------------------------------------------


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


def osm_roads(
    scenes: Sequence[str | Path],
    osm: str | Path | None = None,
    overpass_url: str = OVERPASS_URL,
    log: Log | None = None,
) -> tuple[gpd.GeoDataFrame, OsmSource]:
    """OpenStreetMap road lines over the scenes, from an extract or the Overpass API.

    Args:
        scenes: rasters in any CRS.
        osm: an extract the user downloaded (None: ask ``overpass_url``).
        overpass_url: the Overpass API instance to ask.
        log: called with what is being done.

    Returns:
        The lines (EPSG:4326, :func:`osm_columns` form) and where they came from.

    Raises:
        RoadkdError: for unreadable scenes or extracts, or an Overpass API that cannot
            answer (the message names ``--osm``).
    """
    boxes = tuple(scene_boxes(scenes))
    if osm is not None:
        roads = read_osm_extract(osm, boxes)
        return roads, OsmSource(str(osm), now_utc(), boxes)
    query = overpass_query(boxes)
    if log is not None:
        log(f"asking {overpass_url} for the highway lines over {len(boxes)} scene(s)")
    answer = fetch_overpass(query, overpass_url)
    roads = overpass_lines(answer)
    if roads.empty:
        raise RoadkdError(
            f"OpenStreetMap has no highway line over the scenes (asked {overpass_url}): "
            "check where they are, or give roads you have to 'roadkd data from-vectors'"
        )
    osm_base = (answer.get("osm3s") or {}).get("timestamp_osm_base")
    source = OsmSource(overpass_url, now_utc(), boxes, query, osm_base)
    return roads, source


# -- the whole jobs ------------------------------------------------------------------------


def cache_path(out: str | Path) -> Path:
    """The GeoPackage of OpenStreetMap roads kept beside a dataset folder."""
    target = Path(out)
    return target.with_name(f"{target.name}_osm.gpkg")


def cached_osm_roads(
    scenes: Sequence[str | Path],
    cache: Path,
    osm: str | Path | None = None,
    overpass_url: str = OVERPASS_URL,
    log: Log | None = None,
) -> OsmSource:
    """Make sure ``cache`` holds the OpenStreetMap roads over the scenes; return their source.

    A cache roadkd wrote from the same Overpass URL over the same or a larger area is used
    as it is (no network); otherwise the roads are fetched (or read from ``osm``) and the
    cache is replaced.

    Raises:
        RoadkdError: if ``cache`` exists but is not such a GeoPackage, or the roads cannot be
            had (see :func:`osm_roads`).
    """
    recorded = read_osm_source(cache) if cache.exists() else None
    if cache.exists() and recorded is None:
        raise RoadkdError(
            f"{cache} exists but is not roadkd's OpenStreetMap cache: move it away or choose "
            "another --out"
        )
    if (
        osm is None
        and recorded is not None
        and recorded.query is not None
        and recorded.source == overpass_url
        and _covers(recorded.boxes, scene_boxes(scenes))
    ):
        if log is not None:
            log(f"using {cache} (fetched {recorded.fetched} from {recorded.source})")
        return recorded
    roads, source = osm_roads(scenes, osm, overpass_url, log)
    with atomic_output(cache) as tmp:
        write_osm_layer(roads, tmp, source)
    if log is not None:
        log(f"{len(roads)} highway line(s) -> {cache}")
    return source


def write_dataset_from_osm(
    scenes: Sequence[str | Path],
    out: str | Path,
    *,
    osm: str | Path | None = None,
    overpass_url: str = OVERPASS_URL,
    log: Log | None = None,
    **options: Any,
) -> tuple[FromVectorsSummary, Path]:
    """Training data from scenes and the OpenStreetMap roads over them.

    The roads are cached beside ``out`` (:func:`cache_path`, kept if the dataset cannot be
    written, so a second try needs no network) and burnt by
    :func:`~roadkd.datasets.from_vectors.write_dataset_from_vectors`: widths from ``lanes``
    and the ``highway`` class.

    Args:
        scenes: rasters ``roadkd predict`` reads.
        out: dataset folder to create (must not exist or be empty).
        osm: an extract the user downloaded (None: ask ``overpass_url``).
        overpass_url: the Overpass API instance to ask.
        log: called with progress lines and warnings.
        **options: keyword arguments of ``write_dataset_from_vectors`` (not the road layer's).

    Returns:
        What was written, and the cache's path.

    Raises:
        RoadkdError: for unusable inputs; nothing but the cache is written then.
    """
    target = Path(out)
    check_new_dataset_folder(target)
    cache = cache_path(target)
    source = cached_osm_roads(scenes, cache, osm, overpass_url, log)
    summary = write_dataset_from_vectors(
        scenes,
        cache,
        target,
        roads_layer=LAYER,
        log=log,
        provenance={
            "source": "openstreetmap",
            "osm": {"from": source.source, "fetched": source.fetched, "osm_base": source.osm_base},
        },
        **options,
    )
    return summary, cache


__all__ = [
    "LAYER",
    "OSM_TAGS",
    "OVERPASS_URL",
    "OsmSource",
    "cache_path",
    "cached_osm_roads",
    "fetch_overpass",
    "osm_columns",
    "osm_roads",
    "overpass_lines",
    "overpass_query",
    "read_osm_extract",
    "read_osm_source",
    "scene_boxes",
    "write_dataset_from_osm",
    "write_osm_layer",
]
