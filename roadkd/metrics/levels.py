"""Which crossing road lines meet: the crossing rule of a line layer, from its attributes.

Most road layers are not split where roads cross, so a crossing is taken as a junction,
unless the layer says the two roads are on different levels. OpenStreetMap says so with
``bridge``, ``tunnel`` and ``layer`` (as fields, or inside the ``other_tags`` field that
GDAL's OSM driver writes); another layer may say it with a field the user names. Lines
whose levels differ do not meet where they cross (``roadkd.metrics.linegraph``).

SpaceNet road labels say it with ``bridge_type`` (or ``bridge_typ`` in early files): code 1
is a bridge (their labelling guide: an overpass shares no point with the road beneath), read
as ``bridge=yes`` when a layer has no OpenStreetMap level field.

``auto`` reads the levels; ``junction`` makes every crossing a junction; ``apart`` keeps
every crossing without a shared vertex apart (OpenStreetMap's own rule, where junctions
are shared nodes).
"""

import math
import re
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd

from .linegraph import Crossings
from .options import CROSSING_MODES

#: The ``--crossings`` choices.
MODES = CROSSING_MODES
#: OpenStreetMap keys that put a road on another level.
OSM_KEYS = ("bridge", "tunnel", "layer")
#: Values of ``bridge``/``tunnel`` that mean "not one".
NO = frozenset({"", "no", "false", "0", "none", "null"})
#: SpaceNet's bridge fields (current and Shapefile-truncated names) and its code for a bridge.
SPACENET_BRIDGE_FIELDS = ("bridge_type", "bridge_typ")
SPACENET_BRIDGE = "1"
#: One ``"key"=>"value"`` pair of GDAL's OSM ``other_tags`` (an hstore string).
HSTORE_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class CrossingRule:
    """How the lines of one layer meet where they cross.

    Attributes:
        crossings: for lines on one level, ``"junction"`` or ``"apart"``.
        levels: one level per line (None: all on one level).
        description: the rule in words, for the report.
    """

    crossings: Crossings
    levels: list[Hashable] | None
    description: str


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_set(value: Any) -> bool:
    """Whether an OSM ``bridge``/``tunnel`` value says there is one (``yes``, ``viaduct``...)."""
    if _missing(value):
        return False
    if isinstance(value, bool | int | float):
        return bool(value)
    return str(value).strip().lower() not in NO


def _layer(value: Any) -> int | str:
    """An OSM ``layer`` value as an integer (0 when absent); other text as it is."""
    if _missing(value):
        return 0
    text = str(value).strip()
    try:
        number = float(text) if text else 0.0
    except ValueError:
        return text.lower()
    return int(number) if number.is_integer() else text


def _field_value(value: Any) -> Hashable:
    """A user field's value, so that ``1``, ``1.0`` and ``" 1"`` are one level."""
    if _missing(value):
        return None
    try:
        return float(str(value).strip())
    except ValueError:
        return str(value).strip().lower()


def field_column(frame: gpd.GeoDataFrame, name: str) -> str | None:
    """The frame's column of that name, matched exactly, else regardless of case (or None)."""
    if name in frame.columns:
        return name
    matches = [c for c in frame.columns if str(c).lower() == name.lower()]
    return str(matches[0]) if len(matches) == 1 else None


def _osm_tags(frame: gpd.GeoDataFrame) -> list[dict[str, Any]] | None:
    """Per row, the OSM level tags found in fields or in ``other_tags`` (None: no such field)."""
    columns = {key: field_column(frame, key) for key in OSM_KEYS}
    other = field_column(frame, "other_tags")
    if other is None and all(c is None for c in columns.values()):
        return _spacenet_tags(frame)
    rows: list[dict[str, Any]] = []
    for i in range(len(frame)):
        tags: dict[str, Any] = {}
        if other is not None and isinstance(text := frame[other].iloc[i], str):
            tags = {k: v for k, v in HSTORE_PAIR.findall(text) if k in OSM_KEYS}
        for key, column in columns.items():
            if column is not None and not _missing(value := frame[column].iloc[i]):
                tags[key] = value
        rows.append(tags)
    return rows


def spacenet_code(value: Any) -> str | None:
    """A SpaceNet integer code as text (``"1"``, ``1`` and ``1.0`` alike), or None."""
    if _missing(value):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return str(int(number)) if math.isfinite(number) and number.is_integer() else None


def _spacenet_tags(frame: gpd.GeoDataFrame) -> list[dict[str, Any]] | None:
    """Per row, ``bridge=yes`` where SpaceNet's ``bridge_type`` says 1 (None: no such field)."""
    found = (field_column(frame, name) for name in SPACENET_BRIDGE_FIELDS)
    column = next((c for c in found if c is not None), None)
    if column is None:
        return None
    return [{"bridge": "yes"} if spacenet_code(v) == SPACENET_BRIDGE else {} for v in frame[column]]


def _level_name(level: tuple[int | str, bool, bool]) -> str:
    layer, bridge, tunnel = level
    words = [w for w, on in (("bridge", bridge), ("tunnel", tunnel)) if on]
    if layer != 0:
        words.append(f"layer {layer}")
    return " ".join(words) or "ground"


def _levels_summary(levels: list[Hashable], name: Any) -> str:
    """Lines per level, most common first: ``"2 levels: ground: 310, bridge layer 1: 2"``."""
    counts = Counter(levels).most_common()
    return f"{len(counts)} levels: " + ", ".join(f"{name(level)}: {n}" for level, n in counts)


def crossing_rule(frame: gpd.GeoDataFrame, mode: str, field: str | None = None) -> CrossingRule:
    """The crossing rule of one layer.

    Args:
        frame: the layer's lines (one row per line) with their attributes.
        mode: ``"auto"`` (junctions, except between lines on different levels),
            ``"junction"`` or ``"apart"``.
        field: with ``auto``, the field that says the level instead of OpenStreetMap's
            ``bridge``/``tunnel``/``layer``.

    Returns:
        The rule, the levels of the rows and the rule in words.
    """
    if mode == "junction":
        return CrossingRule("junction", None, "every crossing is a junction")
    if mode == "apart":
        return CrossingRule(
            "apart", None, "lines meet only at shared vertices and line ends, not where they cross"
        )
    if field is not None:
        column = field_column(frame, field)
        if column is None:
            return CrossingRule(
                "junction", None, f"every crossing is a junction (no field {field!r})"
            )
        values = [_field_value(v) for v in frame[column]]
        if len(set(values)) < 2:
            return CrossingRule(
                "junction", None, f"every crossing is a junction (one {column!r} value)"
            )
        return CrossingRule(
            "junction",
            list(values),
            f"a crossing is a junction unless the lines' {column!r} differ "
            f"({_levels_summary(list(values), lambda v: 'empty' if v is None else repr(v))})",
        )
    tags = _osm_tags(frame)
    if tags is None:
        return CrossingRule(
            "junction", None, "every crossing is a junction (no bridge/tunnel/layer fields)"
        )
    levels: list[Hashable] = [
        (_layer(t.get("layer")), _is_set(t.get("bridge")), _is_set(t.get("tunnel"))) for t in tags
    ]
    if len(set(levels)) < 2:
        return CrossingRule(
            "junction", None, "every crossing is a junction (all lines on one bridge/tunnel/layer)"
        )
    return CrossingRule(
        "junction",
        levels,
        "a crossing is a junction unless the lines' bridge/tunnel/layer differ "
        f"({_levels_summary(levels, _level_name)})",
    )
