"""`roadkd evaluate --truth --pred`: comparing road layers, with known answers."""

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import rasterio.features
from affine import Affine
from click.testing import CliRunner
from roadkd_cli.main import cli
from shapely.affinity import translate
from shapely.geometry import LineString, MultiLineString, box

from roadkd.compare import CompareSettings, compare_layers
from roadkd.vectorize import vectorize_array

X0, Y0 = 445000.0, 5030000.0  # UTM 18N, near Ottawa
SCORES = (
    "apls",
    "topo_precision",
    "topo_recall",
    "topo_f1",
    "length_precision",
    "length_recall",
    "length_f1",
)


def road(*xy: tuple[float, float]) -> LineString:
    return LineString([(X0 + x, Y0 + y) for x, y in xy])


def network() -> list[LineString]:
    """A small town: a main street, a crossing street sharing a vertex, a T onto a segment."""
    return [
        road((0, 0), (150, 0), (400, 10)),
        road((150, -200), (150, 0), (160, 250)),
        road((300, 6.5), (310, 200), (200, 300)),
        road((-50, 100), (0, 0)),
    ]


def write_lines(
    path: Path, lines: list[LineString], crs: str = "EPSG:32618", layer: str | None = None
) -> Path:
    frame = gpd.GeoDataFrame(
        {"name": [f"road {i}" for i in range(len(lines))]}, geometry=lines, crs="EPSG:32618"
    )
    frame.to_crs(crs).to_file(path, layer=layer, engine="pyogrio")
    return path


def crossing_town() -> list[LineString]:
    """Four roads, straight and curved; two cross without a shared vertex, at (200, 100),
    which is a control point of both (the midpoints of 400 m and 200 m roads)."""
    angles = np.linspace(0.1 * np.pi, 0.9 * np.pi, 24)
    return [
        road((0, 100), (400, 100)),
        road((200, 0), (200, 200)),
        road(*zip(200 + 150 * np.cos(angles), 100 + 150 * np.sin(angles), strict=True)),
        road((0, 100), (-20, 300)),
    ]


def write_frame(path: Path, frame: gpd.GeoDataFrame) -> Path:
    frame.to_file(path, engine="pyogrio")
    return path


def write_area(path: Path, *bounds: float) -> Path:
    gpd.GeoDataFrame(
        geometry=[box(X0 + bounds[0], Y0 + bounds[1], X0 + bounds[2], Y0 + bounds[3])],
        crs="EPSG:32618",
    ).to_file(path, engine="pyogrio")
    return path


def evaluate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["evaluate", *args])
    return result.exit_code, result.output


def test_a_layer_against_itself_scores_one(tmp_path: Path) -> None:
    roads = write_lines(tmp_path / "roads.gpkg", network())
    code, output = evaluate(
        "--truth",
        str(roads),
        "--pred",
        str(roads),
        "--out",
        str(tmp_path / "r.json"),
        "--errors",
        str(tmp_path / "errors.gpkg"),
    )
    assert code == 0, output
    report = json.loads((tmp_path / "r.json").read_text())
    assert {k: report[k] for k in SCORES} == dict.fromkeys(SCORES, 1.0)
    assert report["missed_km"] == report["false_km"] == 0
    assert report["inputs"]["crs"] == "EPSG:32618"
    assert report["settings"]["buffer_m"] == 2.0 and report["settings"]["topo"]["radius_m"] == 150
    for layer in ("missed", "false"):
        assert len(gpd.read_file(tmp_path / "errors.gpkg", layer=layer)) == 0
    info = pyogrio.read_info(tmp_path / "errors.gpkg", layer="missed")
    assert info["geometry_type"] == "LineString"
    assert "APLS" in output and "TOPO" in output


def test_the_same_roads_split_differently_score_one(tmp_path: Path) -> None:
    lines = network()
    first = LineString(list(lines[0].coords)[:2])
    rest = LineString(list(lines[0].coords)[1:])
    split = [first, rest, *lines[1:]]
    result = compare_layers(
        write_lines(tmp_path / "t.gpkg", lines), write_lines(tmp_path / "p.gpkg", split)
    )
    assert {k: result.scores[k] for k in SCORES} == dict.fromkeys(SCORES, 1.0)


def test_one_of_two_roads_is_half_the_length(tmp_path: Path) -> None:
    both = [road((0, 0), (100, 0)), road((0, 50), (100, 50))]
    truth = write_lines(tmp_path / "truth.shp", both)
    pred = write_lines(tmp_path / "pred.geojson", both[:1])
    aoi = write_area(tmp_path / "aoi.gpkg", -10, -10, 110, 60)
    result = compare_layers(truth, pred, aoi=aoi)
    assert result.scores["length_recall"] == pytest.approx(0.5, abs=1e-3)
    assert result.scores["length_precision"] == 1.0
    assert result.scores["topo_precision"] == 1.0
    assert 0.3 < result.scores["topo_recall"] < 0.7
    assert result.scores["missed_km"] == pytest.approx(0.1, abs=1e-3)
    # the truth's attributes follow its missed stretch
    assert result.missed["name"].tolist() == ["road 1"]


def test_a_half_found_road_leaves_the_other_half_missed(tmp_path: Path) -> None:
    truth = write_lines(tmp_path / "truth.gpkg", [road((0, 0), (100, 0))])
    pred = write_lines(tmp_path / "pred.gpkg", [road((0, 0.5), (50, 0.5))])
    aoi = write_area(tmp_path / "aoi.gpkg", -10, -10, 110, 10)
    errors = tmp_path / "errors.gpkg"
    code, output = evaluate(
        "--truth", str(truth), "--pred", str(pred), "--aoi", str(aoi), "--errors", str(errors)
    )
    assert code == 0, output
    missed = gpd.read_file(errors, layer="missed")
    # the 50 m the prediction does not reach, less the 2 m buffer past its end
    expected = 50 - np.sqrt(2**2 - 0.5**2)
    assert missed.geometry.length.sum() == pytest.approx(expected, abs=0.01)
    assert missed["length_m"].sum() == pytest.approx(expected, abs=0.01)
    assert missed.crs.to_epsg() == 32618
    assert len(gpd.read_file(errors, layer="false")) == 0


def test_a_prediction_beyond_the_buffer_matches_nothing(tmp_path: Path) -> None:
    lines = [road((0, 0), (300, 0)), road((0, 100), (150, 120), (300, 100))]
    truth = write_lines(tmp_path / "truth.gpkg", lines)
    pred = write_lines(tmp_path / "pred.gpkg", [translate(g, 0, 6) for g in lines])
    aoi = write_area(tmp_path / "aoi.gpkg", -10, -10, 310, 140)
    result = compare_layers(truth, pred, aoi=aoi)
    assert result.scores["length_precision"] == result.scores["length_recall"] == 0
    assert result.scores["topo_f1"] == 0 and result.scores["apls"] == 0
    assert result.scores["missed_km"] == result.scores["truth_km"]
    wider = compare_layers(truth, pred, aoi=aoi, settings=CompareSettings(buffer_m=7.0))
    assert wider.scores["length_recall"] > 0.95


def test_a_prediction_in_degrees_scores_as_in_metres(tmp_path: Path) -> None:
    lines = network()
    truth = write_lines(tmp_path / "truth.gpkg", lines)
    moved = [translate(g, 1.0, 1.0) for g in lines[1:]]  # imperfect, and one road missed
    metres = compare_layers(truth, write_lines(tmp_path / "m.gpkg", moved))
    degrees = compare_layers(truth, write_lines(tmp_path / "d.geojson", moved, "EPSG:4326"))
    assert degrees.inputs["crs"] == "EPSG:32618"
    assert degrees.scores == pytest.approx(metres.scores, abs=1e-4)
    assert 0 < metres.scores["length_recall"] < 1


def test_default_area_is_the_probability_extent_and_errors_get_confidence(
    tmp_path: Path,
) -> None:
    # a 100 x 100 m probability raster over the first road only, 0.9 on the left half
    prob = np.full((200, 200), 0.2, np.float32)
    prob[:, :100] = 0.9
    raster = tmp_path / "prob.tif"
    with rasterio.open(
        raster,
        "w",
        driver="GTiff",
        width=200,
        height=200,
        count=1,
        dtype="float32",
        crs="EPSG:32618",
        transform=Affine(0.5, 0, X0, 0, -0.5, Y0 + 50),
    ) as dst:
        dst.write(prob[None])
    truth = write_lines(
        tmp_path / "truth.gpkg", [road((0, 0), (100, 0)), road((0, 500), (100, 500))]
    )
    pred = write_lines(tmp_path / "pred.gpkg", [road((0, 20), (100, 20))])
    result = compare_layers(truth, pred, prob=raster)
    assert result.inputs["area"] == f"extent of {raster}"
    assert result.scores["truth_km"] == pytest.approx(0.1)  # the far road is outside
    assert result.missed["confidence"].tolist() == [pytest.approx(0.55, abs=0.01)]
    assert result.false["confidence"].tolist() == [pytest.approx(0.55, abs=0.01)]


def test_a_roadkd_geopackage_is_read_at_its_centreline_layer(tmp_path: Path) -> None:
    roads = tmp_path / "roads.gpkg"
    gpd.GeoDataFrame(geometry=[box(X0, Y0, X0 + 10, Y0 + 10)], crs="EPSG:32618").to_file(
        roads, layer="surface"
    )
    write_lines(roads, network(), layer="centerlines")
    truth = write_lines(tmp_path / "truth.gpkg", network())
    assert compare_layers(truth, roads).scores["length_f1"] == 1.0
    assert compare_layers(truth, roads, pred_layer="centerlines").scores["apls"] == 1.0


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    roads = write_lines(tmp_path / "roads.gpkg", network())
    polygons = write_area(tmp_path / "area.gpkg", 0, 0, 10, 10)
    far = write_area(tmp_path / "far.gpkg", 5000, 5000, 5010, 5010)
    folder = tmp_path / "report.json"
    folder.mkdir()
    cases = {
        "truth not found": ["--truth", str(tmp_path / "nope.gpkg"), "--pred", str(roads)],
        "is not a line layer (it holds Polygon)": ["--truth", str(polygons), "--pred", str(roads)],
        "no truth road inside the area": [
            "--truth",
            str(roads),
            "--pred",
            str(roads),
            "--aoi",
            str(far),
        ],
        "has no layer 'x'": ["--truth", str(roads), "--pred", str(roads), "--pred-layer", "x"],
        "is not an output format roadkd writes here; use .gpkg": [
            "--truth",
            str(roads),
            "--pred",
            str(roads),
            "--errors",
            str(tmp_path / "e.shp"),
        ],
        "AOI": ["--truth", str(roads), "--pred", str(roads), "--aoi", str(roads)],
        "is the prediction this run reads; refusing to overwrite it": [
            "--truth",
            str(polygons),
            "--pred",
            str(roads),
            "--errors",
            str(roads),
        ],
        "is a folder; give a file name": [
            "--truth",
            str(roads),
            "--pred",
            str(roads),
            "--out",
            str(folder),
        ],
    }
    for message, args in cases.items():
        code, output = evaluate(*args)
        assert code == 1, output
        lines = output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], output
    assert pyogrio.read_info(roads)["features"] == len(network())  # untouched
    (tmp_path / "bad.gpkg").write_text("not a geopackage")
    code, output = evaluate("--truth", str(tmp_path / "bad.gpkg"), "--pred", str(roads))
    assert code == 1 and output.startswith("Error: cannot read truth")


def test_the_two_modes_exclude_each_other(tmp_path: Path) -> None:
    roads = str(write_lines(tmp_path / "roads.gpkg", network()))
    code, output = evaluate("--truth", roads, "--pred", roads, "--model", "m.ckpt")
    assert code == 2 and "not both (--model, --truth, --pred)" in output
    code, output = evaluate("--truth", roads)
    assert code == 2 and "needs both --truth and --pred" in output
    code, output = evaluate()
    assert code == 2 and "use either --model/--data" in output


def test_an_existing_error_geopackage_keeps_its_other_layers(tmp_path: Path) -> None:
    roads = write_lines(tmp_path / "roads.gpkg", network())
    errors = write_lines(tmp_path / "errors.gpkg", network()[:1], layer="notes")
    code, output = evaluate("--truth", str(roads), "--pred", str(roads), "--errors", str(errors))
    assert code == 0, output
    assert sorted(name for name, _ in pyogrio.list_layers(errors)) == ["false", "missed", "notes"]


def test_the_utm_zone_follows_the_compared_area(tmp_path: Path) -> None:
    # a stray predicted line on another continent must not pull the zone out of Ottawa
    truth = write_lines(tmp_path / "truth.gpkg", [road((0, 0), (100, 0))])
    stray = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (0.001, 0)])], crs="EPSG:4326")
    pred = write_lines(tmp_path / "pred.gpkg", [road((0, 0), (100, 0))])
    found = gpd.read_file(pred).to_crs("EPSG:4326")
    both = gpd.GeoDataFrame(geometry=[*found.geometry, *stray.geometry], crs="EPSG:4326")
    both.to_file(tmp_path / "pred_stray.gpkg")
    aoi = write_area(tmp_path / "aoi.gpkg", -10, -10, 110, 10)
    result = compare_layers(truth, tmp_path / "pred_stray.gpkg", aoi=aoi)
    assert result.inputs["crs"] == "EPSG:32618"
    assert result.scores["length_f1"] == 1.0 and result.scores["truth_km"] == 0.1


def test_a_crossing_without_a_shared_vertex_scores_one_against_itself(tmp_path: Path) -> None:
    roads = write_lines(tmp_path / "roads.gpkg", crossing_town())
    out = tmp_path / "r.json"
    code, output = evaluate("--truth", str(roads), "--pred", str(roads), "--out", str(out))
    assert code == 0, output
    rule = "every crossing is a junction (no bridge/tunnel/layer fields)"
    assert output.count("Crossings") == 1 and f"Crossings (auto): {rule}" in output
    report = json.loads(out.read_text())
    assert {k: report[k] for k in SCORES} == dict.fromkeys(SCORES, 1.0)
    assert report["inputs"]["crossings"] == rule and report["settings"]["crossings"] == "auto"
    # kept apart, the crossing's control points stay on their own roads: 1.0 still
    apart = compare_layers(roads, roads, settings=CompareSettings(crossings="apart"))
    assert {k: apart.scores[k] for k in SCORES} == dict.fromkeys(SCORES, 1.0)


def test_a_messy_copy_scores_one_against_the_clean_layer(tmp_path: Path) -> None:
    lines = crossing_town()
    first = lines[0]
    cut = first.interpolate(0.3, normalized=True)
    messy = [
        LineString([cut, *first.coords[1:]]),  # split in two, one half reversed
        LineString([*first.coords[:1], cut]).reverse(),
        # two roads in one feature, one of them split at the crossing (noded)
        MultiLineString([road((200, 0), (200, 100)), road((200, 100), (200, 200)), lines[3]]),
        lines[2].reverse(),
        lines[2],  # duplicated
    ]
    clean = write_lines(tmp_path / "clean.gpkg", lines)
    pred = write_frame(tmp_path / "messy.gpkg", gpd.GeoDataFrame(geometry=messy, crs="EPSG:32618"))
    for truth, copy in ((clean, pred), (pred, clean)):
        result = compare_layers(truth, copy)
        assert {k: result.scores[k] for k in SCORES} == dict.fromkeys(SCORES, 1.0)
        # the duplicated road counts once
        assert result.scores["pred_km"] == result.scores["truth_km"] == pytest.approx(1.1778)


def bridge_town(tags: dict[str, list[object]]) -> gpd.GeoDataFrame:
    """A street grid's two sides and a bridge (the last line) over the middle street."""
    lines = [
        road((0, 0), (300, 0)),
        road((0, 0), (0, 200)),
        road((300, 0), (300, 200)),
        road((0, 100), (300, 100)),
        road((150, -50), (150, 250)),  # crosses the middle street without a shared vertex
    ]
    return gpd.GeoDataFrame(tags, geometry=lines, crs="EPSG:32618")


def test_an_osm_bridge_is_kept_apart(tmp_path: Path) -> None:
    tagged = bridge_town({"bridge": [None] * 4 + ["yes"], "layer": [None] * 4 + ["1"]})
    truth = write_frame(tmp_path / "osm.gpkg", tagged)
    other_tags = ['"highway"=>"primary"'] * 4 + ['"bridge"=>"yes","layer"=>"1"']
    from_pbf = write_frame(tmp_path / "pbf.gpkg", bridge_town({"other_tags": other_tags}))
    noded = write_frame(tmp_path / "noded.gpkg", bridge_town({}))  # meets at the crossing
    out = tmp_path / "r.json"
    code, output = evaluate("--truth", str(truth), "--pred", str(noded), "--out", str(out))
    assert code == 0, output
    assert (
        "Crossings (auto): truth: a crossing is a junction unless the lines' "
        "bridge/tunnel/layer differ (2 levels: ground: 4, bridge layer 1: 1); "
        "prediction: every crossing is a junction (no bridge/tunnel/layer fields)"
    ) in output
    report = json.loads(out.read_text())
    # the prediction lets paths turn at the crossing: the truth does not
    assert report["apls"] < 0.95 and report["apls_gt_to_prop"] > report["apls_prop_to_gt"]
    assert report["length_f1"] == 1.0
    assert compare_layers(truth, from_pbf).scores["apls"] == 1.0
    for mode in ("junction", "apart"):  # the layer's tags set aside, both ways
        forced = compare_layers(truth, noded, settings=CompareSettings(crossings=mode))
        assert forced.scores["apls"] == 1.0
    # a field the user names says the same
    z_level = write_frame(tmp_path / "z.gpkg", bridge_town({"Z_LEVEL": [0, 0, 0, 0, 1]}))
    code, output = evaluate(
        "--truth", str(z_level), "--pred", str(noded), "--level-field", "z_level"
    )
    assert code == 0 and "the lines' 'Z_LEVEL' differ" in output
    by_field = compare_layers(z_level, noded, settings=CompareSettings(level_field="z_level"))
    assert by_field.scores == compare_layers(truth, noded).scores


def test_a_perfect_prediction_of_an_un_noded_layer(tmp_path: Path) -> None:
    # the network as a mask (8 m wide roads, 1 m pixels), vectorised by roadkd: its
    # graph has a junction at the crossing, and so has the truth's
    lines = crossing_town()
    transform = Affine(1.0, 0, X0 - 60, 0, -1.0, Y0 + 320)
    mask = rasterio.features.rasterize(
        [(line.buffer(4), 1) for line in lines], out_shape=(400, 460), transform=transform
    )
    vectors = vectorize_array(mask.astype(np.float32), transform, "EPSG:32618")
    pred = write_frame(tmp_path / "pred.gpkg", vectors.centerlines)
    result = compare_layers(write_lines(tmp_path / "truth.gpkg", lines), pred)
    assert result.scores["apls"] >= 0.95
    assert result.scores["topo_f1"] >= 0.95 and result.scores["length_f1"] >= 0.99


def test_crossing_options_that_cannot_apply(tmp_path: Path) -> None:
    roads = str(write_lines(tmp_path / "roads.gpkg", crossing_town()))
    code, output = evaluate("--truth", roads, "--pred", roads, "--level-field", "level")
    assert code == 1 and output.startswith("Error: neither layer has a field 'level'")
    code, output = evaluate(
        "--truth", roads, "--pred", roads, "--level-field", "name", "--crossings", "apart"
    )
    assert code == 1 and "only applies to crossings 'auto'" in output
    code, output = evaluate("--truth", roads, "--pred", roads, "--crossings", "maybe")
    assert code == 2 and "'maybe' is not one of" in output
