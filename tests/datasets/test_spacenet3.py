"""Tests of `roadkd data spacenet3` on a fixture in the release's layout and data types."""

import importlib.util
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from rasterio.crs import CRS
from roadkd_cli.main import cli

from roadkd.compare import compare_layers
from roadkd.datasets.layout import image_path, mask_path, read_splits
from roadkd.datasets.spacenet3 import (
    chip_outline,
    convert_spacenet3,
    find_chips,
    osm_tags,
    parse_chip_id,
    plan_splits,
    read_chip_roads,
    vectors_path,
)
from roadkd.errors import RoadkdError
from roadkd.metrics.levels import crossing_rule
from roadkd.metrics.linegraph import lines_to_graph

SPACENET3 = ("data", "spacenet3")
FIXTURE = Path(__file__).parents[1] / "data" / "spacenet3" / "data.py"


def _fixture_module():
    spec = importlib.util.spec_from_file_location("spacenet3_fixture", FIXTURE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _fixture_module().make_release(tmp_path_factory.mktemp("sn3"))


@pytest.fixture(scope="module")
def converted(release: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("converted") / "sn3"
    return convert_spacenet3(release, out, val=0.25, test=0.25, seed=0)


def test_chip_ids_of_every_naming() -> None:
    assert parse_chip_id("SN3_roads_train_AOI_2_Vegas_PS-RGB_img1.tif") == (2, "Vegas", 1)
    assert parse_chip_id("RGB-PanSharpen_AOI_4_Shanghai_img1095") == (4, "Shanghai", 1095)
    assert parse_chip_id("SN3_roads_train_AOI_5_Khartoum_geojson_roads_speed_img12.geojson") == (
        5,
        "Khartoum",
        12,
    )
    assert parse_chip_id("spacenetroads_AOI_3_Paris_img7.geojson") == (3, "Paris", 7)
    assert parse_chip_id("notes.txt") is None


def test_find_chips_pairs_labels_and_official_split(release: Path) -> None:
    chips = find_chips(release)
    by_id = {(c.chip_id, c.official): c for c in chips}
    assert len(chips) == 7
    public = by_id[("AOI_2_Vegas_img9", "test_public")]
    assert public.labels is None
    first = by_id[("AOI_2_Vegas_img1", "train")]
    assert first.labels is not None and first.labels.parent.name == "geojson_roads"  # not _speed
    assert by_id[("AOI_5_Khartoum_img2", "train")].labels is None
    assert {c.aoi for c in find_chips(release, aois=[5])} == {5}
    with pytest.raises(RoadkdError, match="no chip of AOI 3"):
        find_chips(release, aois=[2, 3])
    with pytest.raises(RoadkdError, match="holds no SpaceNet 3 chip"):
        find_chips(release / "train" / "AOI_2_Vegas" / "geojson_roads")


def test_release_attributes_become_osm_tags() -> None:
    frame = pd.DataFrame(
        {
            "road_type": ["5", "1", 7, None, "9"],
            "lane_number": ["2", "4", None, "0", "3"],
            "bridge_type": ["2", "1", "3", None, "2"],
            "paved": ["1", "1", 2, "3", None],
        }
    )
    tags = osm_tags(frame)
    assert tags["highway"].tolist() == ["residential", "motorway", "track", "road", "road"]
    assert tags["lanes"].tolist() == ["2", "4", None, None, "3"]
    assert tags["bridge"].tolist() == [None, "yes", None, None, None]
    assert tags["layer"].tolist() == [None, "1", None, None, None]
    assert tags["surface"].tolist() == ["paved", "paved", "unpaved", None, None]
    early = osm_tags(pd.DataFrame({"lane_numbe": ["3"], "bridge_typ": ["1"], "road_type": ["2"]}))
    assert early.iloc[0].to_dict() == {
        "highway": "primary",
        "lanes": "3",
        "bridge": "yes",
        "layer": "1",
        "surface": None,
    }


def test_label_files_read_as_the_release_writes_them(release: Path) -> None:
    labels = {c.chip_id: c.labels for c in find_chips(release) if c.official == "train"}
    roads = read_chip_roads(labels["AOI_2_Vegas_img3"])
    assert roads.crs == CRS.from_epsg(4326) and len(roads) == 2
    assert not shapely.has_z(roads.geometry.to_numpy()).any()
    assert sorted(roads["road_type"]) == ["1", "5"]  # strings, as in the release
    assert read_chip_roads(labels["AOI_2_Vegas_img4"]).empty  # a zero-byte file
    broken = release.parent / "broken.geojson"
    broken.write_text("{not json")
    with pytest.raises(RoadkdError, match="not GeoJSON"):
        read_chip_roads(broken)


def test_splits_per_aoi_and_a_published_test_list(release: Path) -> None:
    chips = find_chips(release)
    splits = plan_splits(chips, val=0.25, test=0.25, seed=0)
    by_id = {c.chip_id + c.official: splits[c.name] for c in chips}
    assert by_id["AOI_2_Vegas_img9test_public"] == "unlabeled"
    assert by_id["AOI_5_Khartoum_img2train"] == "unlabeled"  # no labels
    assert by_id["AOI_5_Khartoum_img1train"] == "train"  # an AOI's only chip trains
    vegas = [v for k, v in by_id.items() if k.startswith("AOI_2") and k.endswith("train")]
    assert sorted(vegas) == ["test", "train", "train", "val"]
    assert plan_splits(chips, 0.25, 0.25, seed=0) == splits
    listed = plan_splits(chips, val=0.0, test=0.0, seed=0, test_chips={(2, 3), (5, 1)})
    assert [c.chip_id for c in chips if listed[c.name] == "test"] == [
        "AOI_2_Vegas_img3",
        "AOI_5_Khartoum_img1",
    ]
    with pytest.raises(RoadkdError, match="AOI_2_img9"):
        plan_splits(chips, 0.0, 0.0, 0, test_chips={(2, 9)})  # public test: no labels


def test_convert_writes_the_layout_and_the_road_layer(converted, release: Path) -> None:
    out = converted.dataset.out
    splits = read_splits(out)
    assert splits["source"] == "spacenet3" and splits["resolution_m"] == 0.3
    assert splits["crs"] == ["EPSG:32611", "EPSG:32636"]  # Vegas, Khartoum
    assert "RGB-PanSharpen_AOI_2_Vegas_img9_r0_c0" in splits["unlabeled"]
    assert len(splits["val"]) == 1 and len(splits["test"]) == 1
    # Adjacent chips reprojected from degrees: their empty corners overlap, their imagery
    # does not, so no training chip is left out beside a held-out one.
    assert converted.dataset.dropped_overlapping == 0
    for name in splits["train"] + splits["val"] + splits["test"]:
        with rasterio.open(image_path(out, name)) as src:
            assert src.dtypes == ("uint8",) * 3 and src.res == pytest.approx((0.3, 0.3))
        assert mask_path(out, name).exists()
    vectors = vectors_path(out)
    assert [name for name, _ in pyogrio.list_layers(vectors)] == ["labelled_chips", "roads"]
    roads = gpd.read_file(vectors, layer="roads")
    bridge = roads[roads["bridge"] == "yes"]
    assert len(bridge) == 1 and bridge.iloc[0]["highway"] == "motorway"
    assert bridge.iloc[0]["layer"] == "1" and bridge.iloc[0]["bridge_type"] == "1"
    assert set(roads["split"]) <= {"train", "val", "test"}


def test_lanes_give_the_surface_width(converted) -> None:
    """The 4-lane motorway bridge is 14 m wide, the 2-lane street beneath it 7 m."""
    out = converted.dataset.out
    name = "SN3_roads_train_AOI_2_Vegas_PS-RGB_img3_r0_c0"
    split = next(s for s in ("train", "val", "test") if name in read_splits(out)[s])
    assert split
    with rasterio.open(mask_path(out, name)) as src:
        surface = src.read(1)
    core = surface == 1
    # The vertical bridge: its road core is 14 m - 2 x 1 m ignore band wide.
    widths = core.sum(axis=1)
    assert np.median(widths[widths > 0]) * 0.3 == pytest.approx(12.0, abs=0.7)
    cols = core.sum(axis=0)
    wide_rows = np.sort(cols[cols > 0])
    assert wide_rows[len(wide_rows) // 4] * 0.3 == pytest.approx(5.0, abs=0.7)


def test_evaluate_reads_the_release_geojson_as_it_is(
    converted, release: Path, tmp_path: Path
) -> None:
    chip = next(c for c in find_chips(release) if c.chip_id == "AOI_2_Vegas_img1")
    assert chip.labels is not None
    area = tmp_path / "chip.gpkg"
    gpd.GeoDataFrame(geometry=[chip_outline(chip.image)], crs="EPSG:4326").to_file(area)
    vectors = vectors_path(converted.dataset.out)
    comparison = compare_layers(chip.labels, vectors, pred_layer="roads", aoi=area)
    assert comparison.scores["length_recall"] == 1.0
    assert comparison.scores["length_precision"] == 1.0
    assert comparison.scores["truth_km"] == pytest.approx(chip_width_km(chip.image), rel=0.05)
    itself = compare_layers(chip.labels, chip.labels, aoi=area)
    assert itself.scores["apls"] == 1.0
    empty = next(c.labels for c in find_chips(release) if c.chip_id == "AOI_2_Vegas_img4")
    with pytest.raises(RoadkdError, match="is empty"):
        compare_layers(empty, vectors, pred_layer="roads", aoi=area)


def test_spacenet_bridges_cross_apart_in_evaluate(release: Path) -> None:
    """The release's bridge_type feeds the crossing rule: a bridge is no junction."""
    chip = next(c for c in find_chips(release) if c.chip_id == "AOI_2_Vegas_img3")
    assert chip.labels is not None
    raw = gpd.read_file(chip.labels)
    rule = crossing_rule(raw, "auto")
    assert rule.levels is not None and len(set(rule.levels)) == 2
    assert "bridge" in rule.description
    early = raw.rename(columns={"bridge_type": "bridge_typ"})
    assert crossing_rule(early, "auto").levels == rule.levels
    lines = list(raw.to_crs(raw.estimate_utm_crs()).geometry)
    apart = lines_to_graph(lines, 1.0, rule.levels, rule.crossings)
    joined = lines_to_graph(lines, 1.0, None, "junction")
    # joined at the crossing: one node more, each line cut in two there
    assert joined.number_of_nodes() == apart.number_of_nodes() + 1
    assert joined.number_of_edges() == apart.number_of_edges() + 2


def chip_width_km(image: Path) -> float:
    """East-west ground width of a chip (its street runs across it)."""
    outline = gpd.GeoSeries([chip_outline(image)], crs="EPSG:4326")
    bounds = outline.to_crs(outline.estimate_utm_crs()).total_bounds
    return float(bounds[2] - bounds[0]) / 1000


def test_cli_summary_and_one_line_errors(release: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "ds"
    listing = tmp_path / "test.txt"
    listing.write_text("RGB-PanSharpen_AOI_2_Vegas_img2\n\n")
    test_list = ("--test-chips", str(listing))
    result = runner.invoke(
        cli,
        [*SPACENET3, str(release), "--out", str(out), "--city", "vegas", "--val", "0", *test_list],
    )
    assert result.exit_code == 0, result.output
    assert "AOI_2_Vegas: train 3, test 1, unlabeled 1" in result.output
    assert read_splits(out)["test"] == ["SN3_roads_train_AOI_2_Vegas_PS-RGB_img2_r0_c0"]
    assert json.loads((out / "splits.json").read_text())["test_chips"] == str(listing)
    again = runner.invoke(cli, ["data", "spacenet3", str(release), "--out", str(out)])
    assert again.exit_code == 1 and "exists and is not empty" in again.output
    (tmp_path / "ds3_roads.gpkg").write_text("mine")
    kept = runner.invoke(cli, ["data", "spacenet3", str(release), "--out", str(tmp_path / "ds3")])
    assert kept.exit_code == 1 and "exists" in kept.output
    assert (tmp_path / "ds3_roads.gpkg").read_text() == "mine"
    listing.write_text("Vegas chip one\n")
    bad = runner.invoke(
        cli,
        [*SPACENET3, str(release), "--out", str(tmp_path / "ds4"), "--test-chips", str(listing)],
    )
    assert bad.exit_code == 1 and "line 1" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "ds4").exists() and not (tmp_path / "ds4_roads.gpkg").exists()
