"""Vector writers: GeoJSON in lon/lat (RFC 7946), GeoPackage layers, Shapefiles, atomicity."""

import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from affine import Affine
from shapely import affinity
from shapely.geometry import LinearRing, LineString, Polygon

from roadkd.errors import RoadkdError
from roadkd.vectorize import RoadVectors, check_output_path, vectorize_array, write_vectors

TRANSFORM = Affine(0.5, 0, 445000.0, 0, -0.5, 5030000.0)


@pytest.fixture(scope="module")
def road() -> RoadVectors:
    mask = np.zeros((200, 200), np.float32)
    mask[95:105, :] = 1
    return vectorize_array(mask, TRANSFORM, "EPSG:32618")


@pytest.fixture(scope="module")
def empty() -> RoadVectors:
    return vectorize_array(np.zeros((50, 50), np.float32), TRANSFORM, "EPSG:32618")


def layers(vectors: RoadVectors) -> dict[str, gpd.GeoDataFrame]:
    return {"centerlines": vectors.centerlines, "surface": vectors.surface}


def leftovers(folder: Path) -> list[str]:
    """Temporary files or folders a writer may have left (they start with a dot)."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_geojson_is_lon_lat_in_the_right_place(road: RoadVectors, tmp_path: Path) -> None:
    out = tmp_path / "roads.geojson"
    write_vectors(out, layers(road))
    raw = json.loads(out.read_text())
    assert raw["type"] == "FeatureCollection" and len(raw["features"]) == 1
    assert "crs" not in raw  # RFC 7946: WGS84 longitude/latitude, no crs member
    lon, lat = raw["features"][0]["geometry"]["coordinates"][0]
    # UTM 18N x=445000, y=5030000 lies just south-west of Ottawa
    assert -75.71 < lon < -75.69 and 45.41 < lat < 45.43
    back = gpd.read_file(out)
    assert back.crs.to_epsg() == 4326
    assert {"length_m", "width_m"} <= set(back.columns)
    # back in UTM it lands where it was drawn, to the centimetre
    utm = back.to_crs("EPSG:32618").geometry.iloc[0]
    assert utm.hausdorff_distance(road.centerlines.geometry.iloc[0]) < 0.05
    assert not leftovers(tmp_path)


def test_geojson_holds_the_first_layer(road: RoadVectors, tmp_path: Path) -> None:
    out = tmp_path / "surface.json"
    write_vectors(out, {"surface": road.surface})
    back = gpd.read_file(out)
    assert list(back.geom_type) == ["Polygon"] and "area_m2" in back.columns


def test_gpkg_has_both_layers_in_the_native_crs(road: RoadVectors, tmp_path: Path) -> None:
    gpkg = tmp_path / "roads.gpkg"
    write_vectors(gpkg, layers(road))
    assert {name for name, _ in pyogrio.list_layers(gpkg)} == {"centerlines", "surface"}
    lines = gpd.read_file(gpkg, layer="centerlines")
    assert lines.crs.to_epsg() == 32618
    assert lines.geometry.iloc[0].equals_exact(road.centerlines.geometry.iloc[0], 1e-6)
    assert len(gpd.read_file(gpkg, layer="surface")) == 1
    assert not leftovers(tmp_path)


def test_shapefile_has_its_prj_and_sidecars(road: RoadVectors, tmp_path: Path) -> None:
    shp = tmp_path / "roads.shp"
    write_vectors(shp, layers(road))
    assert {p.suffix for p in tmp_path.iterdir()} >= {".shp", ".shx", ".dbf", ".prj"}
    back = gpd.read_file(shp)
    assert back.crs.to_epsg() == 32618 and len(back) == 1
    assert back.iloc[0]["length_m"] == pytest.approx(road.centerlines.iloc[0]["length_m"])
    assert not leftovers(tmp_path)


def test_shapefile_overwrite_drops_stale_sidecars(road: RoadVectors, tmp_path: Path) -> None:
    shp = tmp_path / "roads.shp"
    write_vectors(shp, layers(road))
    stale_index = tmp_path / "roads.qix"
    stale_index.write_bytes(b"an old spatial index")
    write_vectors(shp, {"centerlines": road.centerlines.iloc[:0]})
    assert not stale_index.exists()
    assert len(gpd.read_file(shp)) == 0


def test_empty_geojson_is_a_valid_empty_feature_collection(
    empty: RoadVectors, tmp_path: Path
) -> None:
    out = tmp_path / "roads.geojson"
    write_vectors(out, layers(empty))
    assert json.loads(out.read_text()) == {"type": "FeatureCollection", "features": []}
    assert len(gpd.read_file(out)) == 0


@pytest.mark.parametrize("name", ["roads.gpkg", "roads.shp"])
def test_empty_layers_keep_their_geometry_type(
    empty: RoadVectors, tmp_path: Path, name: str
) -> None:
    out = tmp_path / name
    write_vectors(out, layers(empty))
    kwargs = {"layer": "centerlines"} if name.endswith(".gpkg") else {}
    info = pyogrio.read_info(out, **kwargs)
    assert info["geometry_type"] == "LineString" and info["features"] == 0
    assert {"length_m", "width_m"} <= set(info["fields"])
    if name.endswith(".gpkg"):
        assert pyogrio.read_info(out, layer="surface")["geometry_type"] == "Polygon"


def test_unsupported_extension(road: RoadVectors, tmp_path: Path) -> None:
    with pytest.raises(RoadkdError, match=r"use one of \.geojson, \.json, \.gpkg, \.shp"):
        write_vectors(tmp_path / "roads.kml", layers(road))
    assert not list(tmp_path.iterdir())


def test_missing_folder(road: RoadVectors, tmp_path: Path) -> None:
    with pytest.raises(RoadkdError, match="does not exist"):
        write_vectors(tmp_path / "nowhere" / "roads.gpkg", layers(road))
    with pytest.raises(RoadkdError, match="does not exist"):
        write_vectors(tmp_path / "nowhere" / "roads.shp", layers(road))
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    with pytest.raises(RoadkdError, match="does not exist"):
        write_vectors(a_file / "roads.geojson", layers(road))
    folder = tmp_path / "dir.gpkg"
    folder.mkdir()
    with pytest.raises(RoadkdError, match="is a folder"):
        check_output_path(folder)


def test_unwritable_folder(road: RoadVectors, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # running as root: permissions do not apply
            pytest.skip("cannot make a folder unwritable for this user")
        for name in ("roads.geojson", "roads.gpkg", "roads.shp"):
            with pytest.raises(RoadkdError, match="not writable"):
                write_vectors(locked / name, layers(road))
        assert not list(locked.iterdir())
    finally:
        locked.chmod(0o700)


def test_no_layers(tmp_path: Path) -> None:
    with pytest.raises(RoadkdError, match="no layers"):
        write_vectors(tmp_path / "roads.gpkg", {})


def test_failed_write_leaves_nothing_and_keeps_the_old_file(
    road: RoadVectors, tmp_path: Path
) -> None:
    gpkg = tmp_path / "roads.gpkg"
    write_vectors(gpkg, layers(road))
    before = gpkg.read_bytes()
    # a second layer GDAL cannot write (a complex-number column): the write fails after
    # the first layer is already in the temporary file
    bad = gpd.GeoDataFrame(
        {"thing": np.array([1 + 2j])}, geometry=[LineString([(0, 0), (1, 1)])], crs="EPSG:32618"
    )
    with pytest.raises(NotImplementedError):
        write_vectors(gpkg, {"centerlines": road.centerlines, "bad": bad})
    assert gpkg.read_bytes() == before
    assert not leftovers(tmp_path)


def test_geojson_is_streamed_a_chunk_at_a_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from roadkd.vectorize import writers

    ring = [(0, 0), (30, 0), (30, 30), (0, 30)]
    hole = [(10, 10), (10, 20), (20, 20), (20, 10)]
    # a clockwise shell and a counterclockwise hole: RFC 7946 wants them the other way
    plaza = Polygon(ring[::-1], [hole[::-1]])
    shapes = [plaza] + [Polygon([(x, 0), (x + 5, 0), (x + 5, 5)]) for x in range(100, 170, 10)]
    shapes = [affinity.translate(s, 445000, 5030000) for s in shapes]
    areas = [float(k) for k in range(len(shapes))]
    areas[3] = float("nan")
    surface = gpd.GeoDataFrame({"area_m2": areas}, geometry=shapes, crs="EPSG:32618")
    reprojected: list[int] = []
    original = gpd.GeoSeries.to_crs

    def spy(self: gpd.GeoSeries, *args: object, **kwargs: object) -> gpd.GeoSeries:
        reprojected.append(len(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(writers, "GEOJSON_CHUNK", 3)
    monkeypatch.setattr(gpd.GeoSeries, "to_crs", spy)
    out = tmp_path / "surface.geojson"
    write_vectors(out, {"surface": surface})
    assert reprojected == [3, 3, 2]  # never the whole layer at once
    raw = json.loads(out.read_text())
    assert raw["type"] == "FeatureCollection" and "crs" not in raw
    features = raw["features"]
    assert len(features) == 8
    assert [f["properties"]["area_m2"] for f in features][:4] == [0.0, 1.0, 2.0, None]
    shell, inner = (LinearRing(r) for r in features[0]["geometry"]["coordinates"])
    assert shell.is_ccw and not inner.is_ccw
    lon, lat = features[0]["geometry"]["coordinates"][0][0]
    assert -75.71 < lon < -75.69 and 45.41 < lat < 45.43
    assert all(len(str(c).split(".")[1]) <= 7 for c in (lon, lat))
    lost = gpd.GeoDataFrame({"area_m2": [1.0]}, geometry=[None], crs="EPSG:32618")
    write_vectors(tmp_path / "lost.geojson", {"surface": lost})
    assert json.loads((tmp_path / "lost.geojson").read_text())["features"][0]["geometry"] is None
    back = gpd.read_file(out).to_crs("EPSG:32618")
    assert back.geometry.iloc[0].hausdorff_distance(shapes[0]) < 0.02  # a centimetre or so
    assert not leftovers(tmp_path)


def test_geojson_across_the_antimeridian_is_cut_there(tmp_path: Path) -> None:
    # UTM zone 60 north, a road running east across 180 degrees longitude near Fiji's latitude
    crossing = LineString([(780000, 1900000), (860000, 1900000)])
    lines = gpd.GeoDataFrame({"length_m": [80000.0]}, geometry=[crossing], crs="EPSG:32660")
    west, _, east, _ = lines.to_crs("EPSG:4326").total_bounds
    assert east - west > 180  # naively in lon/lat it goes the long way round
    out = tmp_path / "roads.geojson"
    write_vectors(out, {"centerlines": lines})
    geometry = json.loads(out.read_text())["features"][0]["geometry"]
    assert geometry["type"] == "MultiLineString"
    lons = [lon for part in geometry["coordinates"] for lon, _ in part]
    assert max(lons) <= 180 and min(lons) >= -180 and {180, -180} <= set(map(round, lons))


def test_gpkg_layers_are_complete_and_other_layers_stay(road: RoadVectors, tmp_path: Path) -> None:
    gpkg = tmp_path / "roads.gpkg"
    survey = gpd.GeoDataFrame(
        {"note": ["kerb"]}, geometry=[LineString([(445000, 5030000), (445010, 5030000)])]
    ).set_crs("EPSG:32618")
    survey.to_file(gpkg, layer="my_survey", engine="pyogrio")
    many = gpd.GeoDataFrame(
        {"length_m": np.arange(5000.0), "width_m": np.ones(5000)},
        geometry=[LineString([(445000 + k, 5030000), (445000 + k, 5030010)]) for k in range(5000)],
        crs="EPSG:32618",
    )
    before = pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS")
    write_vectors(gpkg, {"centerlines": many, "surface": road.surface})
    assert pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS") == before
    layers = dict(pyogrio.list_layers(gpkg))
    assert set(layers) == {"my_survey", "centerlines", "surface"}
    assert pyogrio.read_info(gpkg, layer="centerlines")["features"] == 5000
    assert pyogrio.read_info(gpkg, layer="surface")["features"] == len(road.surface)
    assert list(gpd.read_file(gpkg, layer="my_survey")["note"]) == ["kerb"]
    # written again, roadkd's layers are replaced, not appended to
    write_vectors(gpkg, {"centerlines": many.iloc[:10], "surface": road.surface})
    assert pyogrio.read_info(gpkg, layer="centerlines")["features"] == 10
    assert "my_survey" in dict(pyogrio.list_layers(gpkg))
    assert not leftovers(tmp_path)
