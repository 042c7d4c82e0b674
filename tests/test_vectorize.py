"""Vectoriser on drawn masks with known answers, and the vector writers."""

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine

from roadkd.errors import RoadkdError
from roadkd.vectorize import VectorizeOptions, vectorize_array, write_vectors

RES = 0.5
TRANSFORM = Affine(RES, 0, 445000.0, 0, -RES, 5030000.0)
CRS = "EPSG:32618"


def blank(size: int = 200) -> np.ndarray:
    return np.zeros((size, size), np.float32)


def test_straight_road_is_one_line_of_the_right_length() -> None:
    mask = blank()
    mask[95:105, :] = 1  # a 5 m wide road crossing the whole 100 m scene
    vectors = vectorize_array(mask, TRANSFORM, CRS)
    assert len(vectors.centerlines) == 1
    length = vectors.centerlines.iloc[0]["length_m"]
    assert length == pytest.approx(200 * RES, rel=0.02)
    assert vectors.centerlines.iloc[0]["width_m"] == pytest.approx(5.0, rel=0.25)
    assert vectors.centerlines.geometry.iloc[0].length == pytest.approx(length, rel=0.02)
    assert len(vectors.surface) == 1
    assert vectors.surface.iloc[0]["area_m2"] == pytest.approx(200 * 10 * RES**2, rel=0.05)
    assert vectors.surface.is_valid.all()


def test_t_junction_gives_three_edges_at_one_node() -> None:
    mask = blank()
    mask[95:105, :] = 1
    mask[:100, 95:105] = 1
    vectors = vectorize_array(mask, TRANSFORM, CRS)
    assert len(vectors.centerlines) == 3
    degrees = sorted(d for _, d in vectors.graph.degree())
    assert degrees == [1, 1, 1, 3]


def test_small_gap_is_bridged() -> None:
    mask = blank()
    mask[95:105, :90] = 1
    mask[95:105, 98:] = 1  # a 4 m gap (9 m between skeleton ends), e.g. under a tree
    vectors = vectorize_array(mask, TRANSFORM, CRS, VectorizeOptions(bridge_m=12.0))
    assert len(vectors.centerlines) == 1
    assert vectors.centerlines.iloc[0]["length_m"] == pytest.approx(100, rel=0.03)
    unbridged = vectorize_array(mask, TRANSFORM, CRS, VectorizeOptions(bridge_m=1.0))
    assert len(unbridged.centerlines) == 2


def test_spur_is_pruned() -> None:
    mask = blank()
    mask[95:105, :] = 1
    mask[85:95, 140:146] = 1  # a 5 m bump: a whisker, not a road
    vectors = vectorize_array(mask, TRANSFORM, CRS, VectorizeOptions(min_spur_m=10.0))
    assert len(vectors.centerlines) == 1


def test_empty_scene_gives_empty_layers(tmp_path: Path) -> None:
    vectors = vectorize_array(blank(), TRANSFORM, CRS)
    assert vectors.centerlines.empty and vectors.surface.empty
    out = tmp_path / "roads.geojson"
    write_vectors(out, {"centerlines": vectors.centerlines})
    assert json.loads(out.read_text()) == {"type": "FeatureCollection", "features": []}


def test_geojson_is_lon_lat_in_the_right_place(tmp_path: Path) -> None:
    mask = blank()
    mask[95:105, :] = 1
    vectors = vectorize_array(mask, TRANSFORM, CRS)
    out = tmp_path / "roads.geojson"
    write_vectors(out, {"centerlines": vectors.centerlines})
    back = gpd.read_file(out)
    assert back.crs.to_epsg() == 4326
    lon, lat = back.geometry.iloc[0].coords[0]
    # UTM 18N x=445000, y=5030000 lies south of Ottawa
    assert -75.8 < lon < -75.6 and 45.3 < lat < 45.5
    assert {"length_m", "width_m"} <= set(back.columns)


def test_gpkg_and_shapefile_keep_native_crs(tmp_path: Path) -> None:
    mask = blank()
    mask[95:105, :] = 1
    vectors = vectorize_array(mask, TRANSFORM, CRS)
    gpkg = tmp_path / "roads.gpkg"
    write_vectors(gpkg, {"centerlines": vectors.centerlines, "surface": vectors.surface})
    assert gpd.read_file(gpkg, layer="centerlines").crs.to_epsg() == 32618
    assert len(gpd.read_file(gpkg, layer="surface")) == 1
    shp = tmp_path / "roads.shp"
    write_vectors(shp, {"centerlines": vectors.centerlines})
    assert (tmp_path / "roads.prj").exists()
    assert gpd.read_file(shp).crs.to_epsg() == 32618
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_unsupported_extension(tmp_path: Path) -> None:
    vectors = vectorize_array(blank(), TRANSFORM, CRS)
    with pytest.raises(RoadkdError, match="use one of"):
        write_vectors(tmp_path / "roads.kml", {"centerlines": vectors.centerlines})
