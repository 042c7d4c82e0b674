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

The layer's form lives in :mod:`.osm_layer`, the Overpass query in :mod:`.overpass` and
reading extracts in :mod:`.osm_extract`; this module is the job (which scenes, which
source, the cache beside a dataset) and names them all.

TorchGeo's ``OpenStreetMap`` dataset (0.10) does not fit: it turns every closed way into a
polygon (a roundabout, a loop road), fixes its endpoints and keeps only the tags as a
raster label, and swallows network errors.
"""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
from rasterio.warp import transform_bounds

from ..errors import RoadkdError
from ..io import atomic_output
from ..raster import open_raster
from .from_vectors import FromVectorsSummary, write_dataset_from_vectors
from .layout import check_new_dataset_folder
from .osm_extract import read_osm_extract
from .osm_layer import (
    LAYER,
    OSM_TAGS,
    Box,
    OsmSource,
    now_utc,
    osm_columns,
    read_osm_source,
    write_osm_layer,
)
from .overpass import OVERPASS_URL, fetch_overpass, overpass_lines, overpass_query

#: Margin around each scene's bounding box, in degrees (~50 m: roads reaching in).
MARGIN_DEG = 5e-4

Log = Callable[[str], None]


def scene_boxes(scenes: Sequence[str | Path]) -> list[Box]:
    """Each scene's bounding box in WGS84 degrees, widened by :data:`MARGIN_DEG`.

    Raises:
        RoadkdError: for a scene that is not a georeferenced raster.
    """
    boxes = []
    for scene in scenes:
        with open_raster(scene, "scene") as src:
            west, south, east, north = transform_bounds(
                src.crs, "EPSG:4326", *src.bounds, densify_pts=21
            )
        m = MARGIN_DEG
        boxes.append((west - m, max(south - m, -90.0), east + m, min(north + m, 90.0)))
    return boxes


def _covers(outer: Sequence[Box], inner: Sequence[Box]) -> bool:
    """Whether every inner box lies inside one of the outer boxes."""
    return all(
        any(o[0] <= b[0] and o[1] <= b[1] and b[2] <= o[2] and b[3] <= o[3] for o in outer)
        for b in inner
    )


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
