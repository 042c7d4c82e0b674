"""OpenStreetMap road lines from the Overpass API: one query over the scenes' boxes."""

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from .. import __version__
from ..errors import RoadkdError
from .osm_layer import OSM_TAGS, Box, other_tags

#: The public Overpass API instance queried by default.
OVERPASS_URL = "https://overpass-api.de/api/interpreter"
#: Seconds the Overpass server may spend on the query (the connection waits a little more).
OVERPASS_TIMEOUT_S = 180
#: What the user can do when Overpass cannot be used.
USE_EXTRACT = (
    "download an OpenStreetMap extract (.osm.pbf, .gpkg or .geojson) and give it with --osm FILE"
)


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
                "other_tags": other_tags(tags),
            }
        )
        lines.append(shapely.LineString(points))
    columns = ["osm_id", *OSM_TAGS, "other_tags"]
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=columns), geometry=lines, crs="EPSG:4326")
