"""Tests of OpenStreetMap labels: `roadkd data osm` and `roadkd data from-osm`, offline.

The Overpass API is a local http.server on 127.0.0.1 answering with a recorded response.
"""

import http.server
import importlib.util
import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from click.testing import CliRunner
from roadkd_cli.main import cli

from roadkd.datasets.layout import mask_path, read_splits
from roadkd.datasets.osm import (
    LAYER,
    OSM_TAGS,
    cached_osm_roads,
    osm_columns,
    overpass_lines,
    overpass_query,
    read_osm_extract,
    read_osm_source,
    scene_boxes,
)
from roadkd.errors import RoadkdError

HERE = Path(__file__).parents[1] / "data" / "osm"
FROM_OSM = ("data", "from-osm")
#: Every block trains: the labels of the whole scene can be checked.
WHOLE = ("--block-size", "64", "--val", "0", "--test", "0")


def _fixture_module():
    spec = importlib.util.spec_from_file_location("osm_fixture", HERE / "data.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fixture = _fixture_module()
RECORDED = json.loads((HERE / "overpass_response.json").read_text())


class _Overpass(http.server.BaseHTTPRequestHandler):
    """Answers every POST with the server's ``answer`` (status, body); records the queries."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.server.queries.append(self.rfile.read(length).decode())  # type: ignore[attr-defined]
        status, body = self.server.answer  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def overpass() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Overpass)
    server.queries = []  # type: ignore[attr-defined]
    server.answer = (200, json.dumps(RECORDED).encode())  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: http.server.ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/api/interpreter"


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/interpreter"


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    return fixture.write_scene(tmp_path / "scene.tif")


def test_query_asks_for_highway_ways_in_each_box() -> None:
    query = overpass_query([(-75.7, 45.4, -75.6, 45.5), (2.3, 48.8, 2.4, 48.9)])
    assert query.startswith("[out:json][timeout:180];")
    assert 'way["highway"](45.4000000,-75.7000000,45.5000000,-75.6000000);' in query
    assert 'way["highway"](48.8000000,2.3000000,48.9000000,2.4000000);' in query
    assert query.endswith("out tags geom;")


def test_overpass_answer_becomes_road_lines() -> None:
    roads = overpass_lines(RECORDED)
    assert roads.crs == "EPSG:4326"
    assert sorted(roads["osm_id"]) == ["1001", "1002", "1003", "1004", "1005"]
    assert set(roads.geom_type) == {"LineString"}  # the closed loop too
    by_id = roads.set_index("osm_id")
    assert by_id.loc["1002", "lanes"] == "4" and by_id.loc["1002", "other_tags"] == (
        '"maxspeed"=>"50"'
    )
    assert (by_id.loc["1003", "bridge"], by_id.loc["1003", "layer"]) == ("yes", "1")
    assert by_id.loc["1005", "other_tags"] == '"junction"=>"roundabout"'
    assert list(roads.columns) == ["osm_id", *OSM_TAGS, "other_tags", "geometry"]


def test_from_osm_fetches_caches_and_burns(
    overpass: http.server.ThreadingHTTPServer, scene: Path, tmp_path: Path
) -> None:
    out = tmp_path / "data"
    result = CliRunner().invoke(
        cli,
        [*FROM_OSM, str(scene), "--out", str(out), "--overpass-url", _url(overpass), *WHOLE],
    )
    assert result.exit_code == 0, result.output
    cache = tmp_path / "data_osm.gpkg"
    assert f"OpenStreetMap roads: {cache}" in result.output
    assert [name for name, _ in pyogrio.list_layers(cache)] == [LAYER]
    source = read_osm_source(cache)
    assert source is not None and source.source == _url(overpass)
    assert source.osm_base == "2024-05-01T12:00:00Z" and source.fetched.endswith("+00:00")
    (posted,) = overpass.queries  # type: ignore[attr-defined]
    assert urllib.parse.parse_qs(posted)["data"] == [source.query]
    splits = read_splits(out)
    assert splits["source"] == "openstreetmap" and splits["roads"] == str(cache)
    assert splits["osm"]["osm_base"] == "2024-05-01T12:00:00Z"
    surface = _mosaic(out, splits["train"])
    # rows (y down, 0.5 m/px): the 4-lane primary at y = 90 m is 14 m wide, the
    # residential street at y = 40 m 6 m wide (core: width - 2 x 1 m ignore band)
    assert _core_width_m(surface[:, 20:100], 180) == pytest.approx(12.0, abs=1.0)
    assert _core_width_m(surface[:, 20:100], 80) == pytest.approx(4.0, abs=1.0)
    # the footway at x = 100 m is not a road: the column beside the loop stays background
    assert (surface[230:250, 200] == 0).all()


def _mosaic(root: Path, names: list[str]) -> np.ndarray:
    """The blocks' surface labels put back on the scene's 256 x 256 grid."""
    mosaic = np.full((256, 256), 99, np.uint8)
    for name in names:
        with rasterio.open(mask_path(root, name)) as src:
            col = round((src.transform.c - fixture.ORIGIN[0]) / fixture.RES)
            row = round((fixture.ORIGIN[1] - src.transform.f) / fixture.RES)
            mosaic[row : row + src.height, col : col + src.width] = src.read(1)
    assert (mosaic != 99).all()
    return mosaic


def _core_width_m(surface: np.ndarray, row: int) -> float:
    """Metres of road core (1) across a west-east road near ``row``, by column."""
    window = surface[max(0, row - 30) : row + 30]
    return float(np.median((window == 1).sum(axis=0))) * fixture.RES


def test_cache_is_used_without_network_for_the_same_scenes(
    overpass: http.server.ThreadingHTTPServer, scene: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "data_osm.gpkg"
    first = cached_osm_roads([scene], cache, overpass_url=_url(overpass))
    again = cached_osm_roads([scene], cache, overpass_url=_url(overpass))
    assert again == first and len(overpass.queries) == 1  # type: ignore[attr-defined]
    elsewhere = fixture.write_scene(tmp_path / "other.tif")
    with rasterio.open(elsewhere, "r+") as dst:
        dst.transform = Affine.translation(2000.0, 0.0) @ dst.transform
    cached_osm_roads([scene, elsewhere], cache, overpass_url=_url(overpass))
    assert len(overpass.queries) == 2  # type: ignore[attr-defined]
    foreign = tmp_path / "mine_osm.gpkg"
    foreign.write_text("not a cache")
    with pytest.raises(RoadkdError, match="not roadkd's OpenStreetMap cache"):
        cached_osm_roads([scene], foreign, overpass_url=_url(overpass))
    assert foreign.read_text() == "not a cache"


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (None, "cannot reach the Overpass API"),
        ((429, b"rate limited"), "HTTP 429"),
        ((200, b"<html>busy</html>"), "did not answer with a query result"),
        (
            (200, json.dumps({"elements": [], "remark": "runtime error: timeout"}).encode()),
            "runtime error: timeout",
        ),
    ],
)
def test_overpass_failures_are_one_line_naming_osm(
    overpass: http.server.ThreadingHTTPServer,
    scene: Path,
    tmp_path: Path,
    answer: tuple[int, bytes] | None,
    message: str,
) -> None:
    url = _closed_port_url() if answer is None else _url(overpass)
    if answer is not None:
        overpass.answer = answer  # type: ignore[attr-defined]
    out = tmp_path / "data"
    result = CliRunner().invoke(
        cli, ["data", "from-osm", str(scene), "--out", str(out), "--overpass-url", url]
    )
    assert result.exit_code == 1
    assert message in result.output and "--osm FILE" in result.output
    assert len(result.output.strip().splitlines()) <= 2  # the progress line and the error
    assert "Traceback" not in result.output
    assert not out.exists() and not (tmp_path / "data_osm.gpkg").exists()


def test_osm_xml_extract_through_gdal_osm_driver(scene: Path, tmp_path: Path) -> None:
    extract = fixture.write_osm_xml(tmp_path / "extract.osm")
    offline = ("--block-size", "128", "--overpass-url", _closed_port_url())
    roads = read_osm_extract(extract, scene_boxes([scene]))
    assert sorted(roads["osm_id"]) == ["1001", "1002", "1003", "1004", "1005"]  # no rail
    by_id = roads.set_index("osm_id")
    # GDAL keeps these in other_tags; they come out as columns
    assert by_id.loc["1002", "lanes"] == "4"
    assert (by_id.loc["1003", "bridge"], by_id.loc["1003", "layer"]) == ("yes", "1")
    result = CliRunner().invoke(
        cli,
        [*FROM_OSM, str(scene), "--out", str(tmp_path / "d"), "--osm", str(extract), *offline],
    )
    assert result.exit_code == 0, result.output  # no network needed
    source = read_osm_source(tmp_path / "d_osm.gpkg")
    assert source is not None and source.source == str(extract) and source.query is None


def test_pbf_extract_through_gdal_osm_driver(tmp_path: Path) -> None:
    """pyogrio's own sample .osm.pbf (Hatfield, UK), when its test data is installed."""
    sample = Path(pyogrio.__file__).parent / "tests" / "fixtures" / "sample.osm.pbf"
    if not sample.exists():
        pytest.skip("pyogrio's sample.osm.pbf is not installed")
    roads = read_osm_extract(sample, [(-0.25, 51.75, -0.22, 51.78)])
    tunnel = roads[roads["name"] == "Hatfield Tunnel"].iloc[0]
    assert (tunnel["highway"], tunnel["tunnel"], tunnel["layer"], tunnel["lanes"]) == (
        "motorway",
        "yes",
        "-1",
        "3",
    )
    assert roads["highway"].notna().all()


def test_geofabrik_and_foreign_layers(tmp_path: Path) -> None:
    line = shapely.LineString([(-75.69, 45.41), (-75.68, 45.41)])
    geofabrik = gpd.GeoDataFrame(
        {"osm_id": ["7"], "fclass": ["tertiary"], "bridge": ["T"], "tunnel": ["F"]},
        geometry=[line],
        crs="EPSG:4326",
    )
    roads = osm_columns(geofabrik)
    assert roads.iloc[0][["highway", "bridge", "tunnel"]].tolist() == ["tertiary", "yes", None]
    municipal = tmp_path / "streets.gpkg"
    gpd.GeoDataFrame({"width": [7.0]}, geometry=[line], crs="EPSG:4326").to_file(municipal)
    with pytest.raises(RoadkdError, match="no highway field"):
        read_osm_extract(municipal, [(-75.7, 45.4, -75.6, 45.5)])


def test_data_osm_writes_the_reference_layer(
    overpass: http.server.ThreadingHTTPServer, scene: Path, tmp_path: Path
) -> None:
    out = tmp_path / "osm.gpkg"
    gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs="EPSG:4326").to_file(out, layer="mine")
    result = CliRunner().invoke(
        cli, ["data", "osm", str(scene), "--out", str(out), "--overpass-url", _url(overpass)]
    )
    assert result.exit_code == 0, result.output
    assert "5 highway line(s)" in result.output
    assert sorted(name for name, _ in pyogrio.list_layers(out)) == ["mine", LAYER]
    source = read_osm_source(out)
    assert source is not None and source.query is not None
