"""The crossing rule of a road layer, read from its attributes."""

import geopandas as gpd
from shapely.geometry import LineString

from roadkd.metrics.levels import crossing_rule


def layer(**columns: list[object]) -> gpd.GeoDataFrame:
    count = len(next(iter(columns.values()))) if columns else 3
    lines = [LineString([(i, 0), (i, 10)]) for i in range(count)]
    return gpd.GeoDataFrame(columns or None, geometry=lines, crs="EPSG:32618")


def test_without_level_fields_every_crossing_is_a_junction() -> None:
    rule = crossing_rule(layer(name=["a", "b", "c"]), "auto")
    assert rule.crossings == "junction" and rule.levels is None
    assert rule.description == "every crossing is a junction (no bridge/tunnel/layer fields)"


def test_osm_bridge_tunnel_and_layer_fields() -> None:
    frame = layer(
        Bridge=["yes", None, "no", "viaduct", None],
        layer=["1", None, "0", 1.0, None],
        tunnel=[None, None, None, None, "culvert"],
    )
    rule = crossing_rule(frame, "auto")
    assert rule.crossings == "junction"
    # "no" and no value are the ground; yes/viaduct on layer 1 are one level
    bridge, ground, tunnel = (1, True, False), (0, False, False), (0, False, True)
    assert rule.levels == [bridge, ground, ground, bridge, tunnel]
    assert rule.description.endswith(
        "bridge/tunnel/layer differ (3 levels: bridge layer 1: 2, ground: 2, tunnel: 1)"
    )
    # all on one level: nothing to keep apart
    same = crossing_rule(layer(bridge=["no", None, "no"]), "auto")
    assert same.levels is None and "one bridge/tunnel/layer" in same.description


def test_osm_tags_inside_gdal_other_tags() -> None:
    frame = layer(
        highway=["primary", "residential"],
        other_tags=['"bridge"=>"yes","layer"=>"1","lanes"=>"2"', None],
    )
    assert crossing_rule(frame, "auto").levels == [(1, True, False), (0, False, False)]


def test_a_field_the_user_names() -> None:
    frame = layer(LEVEL=["1", 1.0, None, "-1"], layer=["1", "1", "1", "1"])
    rule = crossing_rule(frame, "auto", "level")  # found regardless of case
    assert rule.levels == [1.0, 1.0, None, -1.0]
    assert "unless the lines' 'LEVEL' differ (3 levels" in rule.description
    missing = crossing_rule(frame, "auto", "z_order")
    assert missing.levels is None and "no field 'z_order'" in missing.description


def test_junction_and_apart_ignore_the_attributes() -> None:
    frame = layer(bridge=["yes", None, None])
    assert crossing_rule(frame, "junction").levels is None
    apart = crossing_rule(frame, "apart")
    assert apart.crossings == "apart" and apart.levels is None
