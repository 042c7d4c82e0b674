"""Carriageway widths of road centrelines: a width field, OpenStreetMap tags or a default.

A road layer gives centrelines, not surfaces. Training labels need a width; it comes, in
order of preference, from a numeric field of the layer (metres), from the OpenStreetMap
``lanes`` tag (lanes x :data:`LANE_WIDTH_M`), from the ``highway`` class
(:data:`HIGHWAY_WIDTHS_M`), or from one default width. The numbers are typical paved
widths, not measurements: the ignore band written around every road edge absorbs the error.
"""

import math
import re

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import RoadkdError

#: Typical paved width in metres of each OpenStreetMap ``highway`` class (one carriageway
#: as drawn: a dual carriageway is two lines). Classes not listed get the default width.
HIGHWAY_WIDTHS_M: dict[str, float] = {
    "motorway": 11.0,
    "trunk": 10.0,
    "primary": 9.0,
    "secondary": 8.0,
    "tertiary": 7.0,
    "unclassified": 6.0,
    "residential": 6.0,
    "road": 6.0,
    "busway": 6.5,
    "motorway_link": 5.0,
    "trunk_link": 5.0,
    "primary_link": 5.0,
    "secondary_link": 5.0,
    "tertiary_link": 5.0,
    "living_street": 5.0,
    "service": 4.0,
    "track": 3.0,
    "raceway": 10.0,
    # Paths: left out unless asked for (PATH_CLASSES).
    "pedestrian": 4.0,
    "cycleway": 2.0,
    "footway": 2.0,
    "bridleway": 2.0,
    "steps": 2.0,
    "path": 1.5,
    "corridor": 1.5,
}

#: Width in metres of one lane, for lines with an OpenStreetMap ``lanes`` tag.
LANE_WIDTH_M = 3.5

#: Classes that are not roads for a vehicle: dropped unless ``keep_paths``.
PATH_CLASSES: frozenset[str] = frozenset(
    {"pedestrian", "cycleway", "footway", "bridleway", "steps", "path", "corridor", "sidewalk"}
)

#: Classes that do not exist on the ground (yet or any more): always dropped.
NOT_BUILT_CLASSES: frozenset[str] = frozenset({"proposed", "abandoned", "razed", "planned"})

_OTHER_TAGS_LANES = re.compile(r'"lanes"=>"([^"]*)"')


def _lanes(value: object) -> float:
    """Parse an OSM ``lanes`` value ("2", "3;2") into a number of lanes (NaN if unusable)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    numbers = [float(p) for p in re.findall(r"\d+(?:\.\d+)?", str(value))]
    return max(numbers) if numbers and max(numbers) > 0 else math.nan


def _lanes_column(frame: gpd.GeoDataFrame) -> pd.Series:
    """The ``lanes`` tag of each line: a column of its own, else in GDAL's OSM ``other_tags``."""
    lanes = pd.Series(math.nan, index=frame.index, dtype=float)
    if "lanes" in frame.columns:
        lanes = frame["lanes"].map(_lanes).astype(float)
    if "other_tags" in frame.columns:
        lanes = lanes.fillna(frame["other_tags"].map(_other_tags_lanes).astype(float))
    return lanes


def _other_tags_lanes(value: object) -> float:
    """The ``lanes`` tag inside GDAL's OSM ``other_tags`` (``"lanes"=>"2",...``), or NaN."""
    found = _OTHER_TAGS_LANES.search(value) if isinstance(value, str) else None
    return _lanes(found.group(1)) if found else math.nan


def road_widths(
    frame: gpd.GeoDataFrame,
    width_field: str | None = None,
    default_width_m: float = 6.0,
    keep_paths: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Width in metres of every line, and which lines are kept.

    Args:
        frame: road centrelines with their attributes.
        width_field: numeric field holding widths in metres; lines where it is empty or not
            positive fall back to the tags and the default.
        default_width_m: width of lines nothing else gives a width for.
        keep_paths: keep footways, cycleways and other paths (:data:`PATH_CLASSES`).
            In a layer with a ``highway`` field (OpenStreetMap), lines without a value
            there are not roads and are never kept.

    Returns:
        ``(widths, keep)``: float metres and booleans, one per line.

    Raises:
        RoadkdError: if ``width_field`` is not a field of the layer or not numeric.
    """
    widths = pd.Series(math.nan, index=frame.index, dtype=float)
    if width_field is not None:
        if width_field not in frame.columns or width_field == frame.geometry.name:
            fields = ", ".join(c for c in frame.columns if c != frame.geometry.name) or "none"
            raise RoadkdError(f"the road layer has no field {width_field!r} (fields: {fields})")
        given = pd.to_numeric(frame[width_field], errors="coerce")
        if given.isna().all() and frame[width_field].notna().any():
            raise RoadkdError(f"field {width_field!r} of the road layer holds no numbers")
        widths = given.where(given > 0)

    highway = (
        frame["highway"].map(lambda v: v.strip().lower() if isinstance(v, str) else None)
        if "highway" in frame.columns
        else pd.Series(None, index=frame.index, dtype=object)
    )
    lanes_width = _lanes_column(frame) * LANE_WIDTH_M
    class_width = highway.map(HIGHWAY_WIDTHS_M).astype(float)
    widths = widths.astype(float).fillna(lanes_width).fillna(class_width).fillna(default_width_m)

    not_built = highway.isin(NOT_BUILT_CLASSES)
    paths = highway.isin(PATH_CLASSES)
    keep = ~not_built & (keep_paths | ~paths)
    if "highway" in frame.columns:
        # An OpenStreetMap layer: its lines without a highway tag are rivers, railways,
        # power lines, boundaries...
        keep &= highway.notna()
    return widths.to_numpy(float), keep.to_numpy(bool)
