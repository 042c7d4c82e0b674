"""Reading users' vector layers: the one reader behind evaluate --truth/--pred and from-vectors."""

import json
from pathlib import Path

import geopandas as gpd
import pytest
from rasterio.crs import CRS
from shapely.geometry import LineString, MultiLineString, Point

from roadkd.errors import RoadkdError
from roadkd.layers import LINE_TYPES, POLYGON_TYPES, read_layer

UTM = "EPSG:32618"


def _mixed_geojson(path: Path) -> Path:
    """An OSM-style export: a point, a line and a two-part line in one collection."""
    features = [
        {
            "type": "Feature",
            "properties": {"name": "stop"},
            "geometry": Point(0, 0).__geo_interface__,
        },
        {
            "type": "Feature",
            "properties": {"name": "main"},
            "geometry": LineString([(-75.7, 45.4), (-75.69, 45.4)]).__geo_interface__,
        },
        {
            "type": "Feature",
            "properties": {"name": "split"},
            "geometry": MultiLineString(
                [[(-75.7, 45.41), (-75.69, 45.41)], [(-75.68, 45.41), (-75.67, 45.41)]]
            ).__geo_interface__,
        },
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_lines_of_a_mixed_layer_are_kept_single_part(tmp_path: Path) -> None:
    lines = read_layer(_mixed_geojson(tmp_path / "osm.geojson"), LINE_TYPES, "road layer")
    assert lines["name"].tolist() == ["main", "split", "split"]
    assert set(lines.geom_type) == {"LineString"}
    assert lines.crs.to_epsg() == 4326


def test_a_layer_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = _mixed_geojson(tmp_path / "osm.geojson")
    with pytest.raises(RoadkdError, match=r"AOI .* is not a polygon layer \(it holds "):
        read_layer(path, POLYGON_TYPES, "AOI")


def test_only_features_near_the_scenes_are_read(tmp_path: Path) -> None:
    path = tmp_path / "roads.gpkg"
    here, far = LineString([(0, 0), (100, 0)]), LineString([(90_000, 0), (90_100, 0)])
    gpd.GeoDataFrame({"n": [1, 2]}, geometry=[here, far], crs=UTM).to_file(path)
    near = [(CRS.from_user_input(UTM), (-10.0, -10.0, 110.0, 10.0))]
    assert read_layer(path, LINE_TYPES, "road layer", near=near)["n"].tolist() == [1]
    elsewhere = [(CRS.from_user_input(UTM), (500_000.0, 0.0, 500_100.0, 10.0))]
    with pytest.raises(RoadkdError, match="lies on the scenes"):
        read_layer(path, LINE_TYPES, "road layer", near=elsewhere)


def test_missing_crs_missing_layer_and_not_a_vector_file(tmp_path: Path) -> None:
    no_crs = tmp_path / "nocrs.gpkg"
    with pytest.warns(UserWarning, match="'crs' was not provided"):  # the mistake made here
        gpd.GeoDataFrame({"n": [1]}, geometry=[LineString([(0, 0), (1, 0)])]).to_file(no_crs)
    with pytest.raises(RoadkdError, match="has no coordinate reference system"):
        read_layer(no_crs, LINE_TYPES, "truth")
    with pytest.raises(RoadkdError, match="has no layer 'x'"):
        read_layer(no_crs, LINE_TYPES, "truth", layer="x")
    text = tmp_path / "roads.gpkg"
    text.write_text("not a geopackage")
    with pytest.raises(RoadkdError, match="not a vector file GDAL can open"):
        read_layer(text, LINE_TYPES, "truth")
    with pytest.raises(RoadkdError, match="truth not found"):
        read_layer(tmp_path / "none.gpkg", LINE_TYPES, "truth")
