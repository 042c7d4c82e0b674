"""Tests of `roadkd data from-vectors`: labels from a road layer the user already has."""

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from click.testing import CliRunner
from rasterio.crs import CRS
from rasterio.warp import calculate_default_transform, reproject
from roadkd_cli.main import cli

from roadkd.datasets.from_vectors import write_dataset_from_vectors
from roadkd.datasets.layout import image_path, mask_path, read_splits
from roadkd.datasets.road_widths import HIGHWAY_WIDTHS_M, LANE_WIDTH_M, road_widths
from roadkd.datasets.vector_labels import road_masks
from roadkd.errors import RoadkdError
from roadkd.labels import IGNORE_INDEX

RES = 0.21
X0, Y0 = 445_000.0, 5_030_000.0
UTM = "EPSG:32618"


def _scene(
    path: Path,
    size: int = 400,
    origin: tuple[float, float] = (X0, Y0),
    dtype: str = "uint8",
) -> Path:
    """A georeferenced RGB scene in UTM 18N at 0.21 m/px."""
    rng = np.random.default_rng(0)
    high = 255 if dtype == "uint8" else 4000
    data = rng.integers(0, high, (3, size, size)).astype(dtype)
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 3,
        "dtype": dtype,
        "crs": UTM,
        "transform": Affine(RES, 0, origin[0], 0, -RES, origin[1]),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def _layer(path: Path, geometries: list[shapely.Geometry], crs: str = UTM, **fields) -> Path:
    gpd.GeoDataFrame(fields, geometry=geometries, crs=crs).to_file(path)
    return path


def _horizontal(row: float, x0: float = -5.0, x1: float = 200.0) -> shapely.LineString:
    """A west-east line ``row`` pixels below the top of a scene at (X0, Y0)."""
    y = Y0 - row * RES
    return shapely.LineString([(X0 + x0, y), (X0 + x1, y)])


def _vertical(col: float) -> shapely.LineString:
    x = X0 + col * RES
    return shapely.LineString([(x, Y0 + 5), (x, Y0 - 200)])


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def _bounds(root: Path, scene: str) -> shapely.Polygon:
    with rasterio.open(image_path(root, scene)) as src:
        return shapely.box(*src.bounds)


# -- masks ---------------------------------------------------------------------------------


def test_straight_6m_road_on_021m_grid() -> None:
    transform = Affine(RES, 0, X0, 0, -RES, Y0)
    for row in (100.0, 100.5):  # on a pixel edge, through pixel centres
        masks = road_masks(np.array([_horizontal(row)]), np.array([6.0]), transform, (200, 200))
        surface, edge, centre = masks["surface"][:, 100], masks["edge"], masks["centerline"]
        # Nominal surface (outer rows of the edge mask) is 6 / 0.21 = 28.6 px wide.
        rows = np.flatnonzero(edge[:, 100])
        assert 28 <= rows[-1] - rows[0] + 1 <= 29
        nominal = np.arange(rows[0], rows[-1] + 1)
        # Ignore band: 1 m = 4.8 px each side of each edge, inside and outside.
        ignore = np.flatnonzero(surface == IGNORE_INDEX)
        outside_above = ignore[ignore < nominal[0]]
        inside_above = ignore[(ignore >= nominal[0]) & (ignore < 100)]
        assert 4 <= len(outside_above) <= 6 and 4 <= len(inside_above) <= 6
        assert 2 * 4 <= len(ignore[ignore > nominal[-1]]) + len(inside_above) <= 2 * 6
        # Sure road: the 4 m core.
        assert 18 <= (surface == 1).sum() <= 20
        assert set(np.unique(masks["surface"])) == {0, 1, IGNORE_INDEX}
        # Centreline: one pixel wide, all along the line, on the line.
        assert (centre.sum(axis=0) == 1).all()
        assert np.flatnonzero(centre[:, 100]).tolist() == [int(row)]


def test_diagonal_centreline_is_one_pixel_wide() -> None:
    transform = Affine(RES, 0, X0, 0, -RES, Y0)
    line = shapely.LineString([(X0, Y0 - 10), (X0 + 42, Y0 - 30)])  # ~25 degrees
    masks = road_masks(np.array([line]), np.array([6.0]), transform, (200, 200))
    centre = masks["centerline"]
    cols = centre[:, :195].sum(axis=0)
    assert (cols == 1).all()  # one pixel per column for a line flatter than 45 degrees
    from scipy import ndimage

    _, pieces = ndimage.label(centre, structure=np.ones((3, 3)))
    assert pieces == 1  # 8-connected


# -- widths --------------------------------------------------------------------------------


def test_osm_tags_map_to_documented_widths() -> None:
    highways = ["motorway", "residential", "service", "track", "footway", "proposed", None]
    frame = gpd.GeoDataFrame(
        {
            "highway": [*highways, "primary", "secondary"],
            "lanes": [None] * 7 + ["3", None],
            "other_tags": [None] * 8 + ['"lanes"=>"2","surface"=>"asphalt"'],
        },
        geometry=[_horizontal(i) for i in range(9)],
        crs=UTM,
    )
    widths, keep = road_widths(frame, default_width_m=6.0)
    assert widths[:4].tolist() == [
        HIGHWAY_WIDTHS_M[h] for h in ("motorway", "residential", "service", "track")
    ]
    assert widths[6] == 6.0  # no tag: the default width, but not a road in an OSM layer
    assert widths[7] == 3 * LANE_WIDTH_M and widths[8] == 2 * LANE_WIDTH_M
    assert keep.tolist() == [True, True, True, True, False, False, False, True, True]
    untagged = frame.drop(columns="highway")
    widths, keep = road_widths(untagged, default_width_m=5.0)
    assert keep.all() and widths[0] == 5.0
    _, keep_paths = road_widths(frame, keep_paths=True)
    assert keep_paths[4] and not keep_paths[5]  # the footway kept, a proposed road never


def test_width_field_wins_and_falls_back() -> None:
    frame = gpd.GeoDataFrame(
        {"w": [8.5, None, 0.0], "highway": ["service", "service", "residential"], "name": "x"},
        geometry=[_horizontal(i) for i in range(3)],
        crs=UTM,
    )
    widths, _ = road_widths(frame, width_field="w", default_width_m=5.0)
    assert widths.tolist() == [8.5, HIGHWAY_WIDTHS_M["service"], HIGHWAY_WIDTHS_M["residential"]]
    with pytest.raises(RoadkdError, match="no field 'width'"):
        road_widths(frame, width_field="width")
    with pytest.raises(RoadkdError, match="holds no numbers"):
        road_widths(frame, width_field="name")


def test_footway_dropped_unless_keep_paths(tmp_path: Path) -> None:
    scene = _scene(tmp_path / "scene.tif", size=200)
    roads = _layer(
        tmp_path / "roads.gpkg",
        [_horizontal(50), _horizontal(150)],
        highway=["residential", "footway"],
    )
    common = {"val": 0.0, "test": 0.0, "block_px": 200}
    write_dataset_from_vectors([scene], roads, tmp_path / "a", **common)
    write_dataset_from_vectors([scene], roads, tmp_path / "b", keep_paths=True, **common)
    without = _read(mask_path(tmp_path / "a", "scene_r0_c0", "centerline"))
    with_paths = _read(mask_path(tmp_path / "b", "scene_r0_c0", "centerline"))
    assert (without[50] == 1).all() and not (without[150] == 1).any()
    assert (with_paths[150] == 1).all()


# -- CRS -----------------------------------------------------------------------------------


def test_roads_in_degrees_rasterise_as_in_utm(tmp_path: Path) -> None:
    scene = _scene(tmp_path / "scene.tif", size=300)
    lines = [
        _horizontal(80.3),
        _vertical(150.7),
        shapely.LineString([(X0, Y0), (X0 + 60, Y0 - 60)]),
    ]
    utm = _layer(tmp_path / "utm.gpkg", lines, width=[6.0, 9.0, 4.0])
    frame = gpd.read_file(utm).to_crs("EPSG:4326")
    frame.to_file(tmp_path / "wgs84.geojson")
    options = {"width_field": "width", "val": 0.0, "test": 0.0, "block_px": 300}
    write_dataset_from_vectors([scene], utm, tmp_path / "a", **options)
    write_dataset_from_vectors([scene], tmp_path / "wgs84.geojson", tmp_path / "b", **options)
    for kind in ("surface", "edge", "centerline"):
        a = _read(mask_path(tmp_path / "a", "scene_r0_c0", kind))
        b = _read(mask_path(tmp_path / "b", "scene_r0_c0", kind))
        assert (a == 1).sum() > 100
        assert (a != b).mean() < 1e-4, kind


def test_16_bit_scene_is_scaled_by_the_imagery_reader(tmp_path: Path) -> None:
    scene = _scene(tmp_path / "scene.tif", size=200, dtype="uint16")
    roads = _layer(tmp_path / "roads.gpkg", [_horizontal(100)])
    write_dataset_from_vectors([scene], roads, tmp_path / "out", val=0.0, test=0.0, block_px=200)
    with rasterio.open(image_path(tmp_path / "out", "scene_r0_c0")) as src:
        assert src.dtypes == ("uint8",) * 3 and src.crs == CRS.from_string(UTM)
        assert src.read().max() == 255


def test_scene_in_degrees_is_written_in_utm(tmp_path: Path) -> None:
    utm_scene = _scene(tmp_path / "utm.tif", size=200)
    scene = tmp_path / "wgs84.tif"
    with rasterio.open(utm_scene) as src:
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:4326", src.width, src.height, *src.bounds
        )
        profile = {"driver": "GTiff", "count": 3, "dtype": "uint8", "crs": "EPSG:4326"}
        profile.update(transform=transform, width=width, height=height)
        with rasterio.open(scene, "w", **profile) as dst:
            for band in (1, 2, 3):
                reproject(rasterio.band(src, band), rasterio.band(dst, band))
    roads = _layer(tmp_path / "roads.gpkg", [_horizontal(100)])
    write_dataset_from_vectors([scene], roads, tmp_path / "out", val=0.0, test=0.0, block_px=400)
    centreline = _read(mask_path(tmp_path / "out", "wgs84_r0_c0", "centerline"))
    rows = np.flatnonzero((centreline == 1).any(axis=1))
    with rasterio.open(mask_path(tmp_path / "out", "wgs84_r0_c0")) as src:
        assert src.crs == CRS.from_string(UTM)
        assert src.res[0] == pytest.approx(RES, rel=0.05)  # degrees are not square on the ground
        y = src.xy(int(rows.mean()), 0)[1]
    assert len(rows) <= 3 and abs(y - (Y0 - 100 * RES)) < 2 * RES


def test_resolution_resamples_images_and_burns_masks_on_the_new_grid(tmp_path: Path) -> None:
    scene = _scene(tmp_path / "scene.tif", size=400)
    roads = _layer(tmp_path / "roads.gpkg", [_horizontal(250.5, x1=90), _vertical(200)])
    out = tmp_path / "out"
    write_dataset_from_vectors(
        [scene], roads, out, resolution=0.42, val=0.0, test=0.0, block_px=90, uncertain_m=0
    )
    names = read_splits(out)["train"]
    assert len(names) == 4  # 200 px at 0.42 m: two blocks of 100 px each way
    with rasterio.open(image_path(out, "scene_r1_c1")) as src:
        assert src.res == pytest.approx((0.42, 0.42), rel=1e-3) and src.shape == (100, 100)
    surface = _read(mask_path(out, "scene_r1_c0"))  # the road is 52.6 m = 125 px down
    assert 14 <= (surface[:, 10] == 1).sum() <= 15  # 6 m at 0.42 m/px


# -- blocks and splits ---------------------------------------------------------------------


def test_labelled_area_and_split_blocks(tmp_path: Path) -> None:
    scene = _scene(tmp_path / "scene.tif", size=400)
    roads = _layer(
        tmp_path / "roads.gpkg",
        [_horizontal(r, x1=90) for r in (30, 130, 230, 330)] + [_vertical(c) for c in (50, 250)],
    )
    # The left 60 % of the scene, and a corner piece of the right part.
    side = 400 * RES
    area = shapely.union_all(
        [shapely.box(X0, Y0 - side, X0 + 0.6 * side, Y0), shapely.box(X0, Y0 - 10, X0 + side, Y0)]
    )
    area_path = _layer(tmp_path / "area.gpkg", [area])
    out = tmp_path / "out"
    summary = write_dataset_from_vectors(
        [scene], roads, out, labelled_area=area_path, block_px=50, val=0.2, test=0.2, seed=3
    )
    splits = read_splits(out)
    assert summary.blocks == {k: splits[k] for k in ("train", "val", "test", "unlabeled")}
    assert len(splits["val"]) >= 2 and len(splits["test"]) >= 2 and splits["unlabeled"]
    interior = area.buffer(-1e-6)
    for name in splits["unlabeled"]:
        assert not _bounds(out, name).intersects(interior), name
        assert not mask_path(out, name).exists()
    for name in splits["val"] + splits["test"]:
        assert area.buffer(1e-6).contains(_bounds(out, name)), name
    for name in splits["train"]:
        block = _bounds(out, name)
        assert block.intersects(interior), name
        surface = _read(mask_path(out, name))
        if not area.buffer(1e-6).contains(block):  # across the border: outside is ignore
            outside = block.difference(area.buffer(RES))
            col = int((outside.centroid.x - block.bounds[0]) / RES)
            row = int((block.bounds[3] - outside.centroid.y) / RES)
            assert surface[row, col] == IGNORE_INDEX
    held = [_bounds(out, n) for n in splits["val"] + splits["test"]]
    for name in splits["train"] + splits["unlabeled"]:
        block = _bounds(out, name)
        assert all(block.intersection(h).area < 1e-6 for h in held)
    assert summary.labelled_km2 == pytest.approx(area.area / 1e6, rel=0.02)
    assert summary.labelled_km2 + summary.unlabelled_km2 == pytest.approx(side**2 / 1e6, rel=1e-3)
    # Same seed, same split; the area may be any layer of a file (here its second one).
    layers = tmp_path / "layers.gpkg"
    gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0 - side, X0 + side, Y0)], crs=UTM).to_file(
        layers, layer="everywhere"
    )
    gpd.GeoDataFrame(geometry=[area], crs=UTM).to_file(layers, layer="complete")
    again = write_dataset_from_vectors(
        [scene],
        roads,
        tmp_path / "again",
        labelled_area=layers,
        labelled_area_layer="complete",
        block_px=50,
        val=0.2,
        test=0.2,
        seed=3,
    )
    assert again.blocks == summary.blocks


def test_overlapping_scenes_never_share_pixels_with_held_out_blocks(tmp_path: Path) -> None:
    a = _scene(tmp_path / "a.tif", size=200)
    b = _scene(tmp_path / "b.tif", size=200, origin=(X0 + 100 * RES, Y0 - 50 * RES))
    roads = _layer(tmp_path / "roads.gpkg", [_horizontal(60, x1=80), _vertical(120)])
    out = tmp_path / "out"
    summary = write_dataset_from_vectors([a, b], roads, out, block_px=50, val=0.25, test=0.25)
    splits = read_splits(out)
    held = [_bounds(out, n) for n in splits["val"] + splits["test"]]
    assert held
    others = [_bounds(out, n) for n in splits["train"] + splits["unlabeled"]]
    assert all(o.intersection(h).area < 1e-6 for o in others for h in held)
    for i, h in enumerate(held):
        assert all(h.intersection(g).area < 1e-6 for g in held[i + 1 :])
    assert summary.dropped_overlapping > 0


def test_held_out_blocks_that_only_touch_a_band_are_scored_as_unknown(tmp_path: Path) -> None:
    from roadkd.evaluation import check_split_labels

    scene = _scene(tmp_path / "scene.tif", size=200)
    # A 6 m road 115 px down: its outer ignore band reaches rows 96-99 of the top blocks,
    # its road core does not; a vertical road keeps the left blocks' labels ordinary.
    roads = _layer(tmp_path / "roads.gpkg", [_horizontal(115, x1=50), _vertical(30)])
    held_band_only = 0
    for seed in range(6):
        out = tmp_path / f"out{seed}"
        splits = write_dataset_from_vectors(
            [scene], roads, out, block_px=100, val=0.25, test=0.5, seed=seed
        ).blocks
        held = [n for split in ("val", "test") for n in splits[split]]
        encodings = check_split_labels(out, held)
        for name in held:
            surface = _read(mask_path(out, name))
            if (surface == IGNORE_INDEX).any() and not (surface == 1).any():
                # 0 and 255 only: evaluate must read 255 as unknown here, not as road.
                assert encodings[(name, "surface")].encoding == "ignore", (seed, name)
                held_band_only += 1
    assert held_band_only  # the case was met


# -- CLI -----------------------------------------------------------------------------------


def test_scenes_of_different_resolutions_need_resolution(tmp_path: Path) -> None:
    fine = _scene(tmp_path / "fine.tif", size=200)
    coarse = tmp_path / "coarse.tif"
    with rasterio.open(fine) as src:
        profile = {**src.profile, "transform": Affine(0.3, 0, X0, 0, -0.3, Y0)}
        with rasterio.open(coarse, "w", **profile) as dst:
            dst.write(src.read())
    roads = _layer(tmp_path / "roads.gpkg", [_horizontal(100, x1=60), _vertical(100)])
    with pytest.raises(RoadkdError, match=r"differ in resolution \(fine 0\.21, coarse 0\.3"):
        write_dataset_from_vectors([fine, coarse], roads, tmp_path / "a", val=0, test=0)
    write_dataset_from_vectors(
        [fine, coarse], roads, tmp_path / "b", val=0, test=0, resolution=0.3, block_px=64
    )
    for name in read_splits(tmp_path / "b")["train"]:
        with rasterio.open(image_path(tmp_path / "b", name)) as src:
            assert src.res == pytest.approx((0.3, 0.3))


def test_cli_summary_and_provenance(tmp_path: Path) -> None:
    (tmp_path / "scenes").mkdir()
    _scene(tmp_path / "scenes" / "scene.tif", size=400)
    roads = _layer(tmp_path / "roads.gpkg", [_horizontal(100, x1=90), _vertical(200)])
    out = tmp_path / "out"
    folder = str(tmp_path / "scenes")  # a folder of scenes, as predict takes
    args = ["data", "from-vectors", folder, "--roads", str(roads), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--block-size", "100", "--progress", "json"])
    assert result.exit_code == 0, result.output
    blocks = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [(b["done"], b["total"]) for b in blocks] == [(n, 16) for n in range(17)]
    assert (
        "1 scene(s), 0.17 km of road rasterised, labelled 0.007 km2, unlabelled 0.000 km2"
        in result.output
    )
    assert "blocks: train 12, val 2, test 2, unlabeled 0" in result.output
    assert "roads missing from the road layer" in result.output
    document = json.loads((out / "splits.json").read_text())
    assert document["source"] == "vectors" and document["uncertain_m"] == 1.0


@pytest.mark.parametrize(
    ("make_roads", "extra", "message"),
    [
        (
            lambda p: _layer(p / "poly.gpkg", [shapely.box(X0, Y0 - 5, X0 + 5, Y0)]),
            [],
            "is not a line layer",
        ),
        (
            lambda p: _layer(p / "far.gpkg", [shapely.LineString([(0, 0), (100, 0)])]),
            [],
            "lies on the scenes",
        ),
        (
            lambda p: _layer(p / "r.gpkg", [_horizontal(10)]),
            ["--width-field", "wd"],
            "no field 'wd'",
        ),
        (lambda p: p / "missing.gpkg", [], "not found"),
    ],
)
def test_cli_errors_are_one_line(
    tmp_path: Path, make_roads, extra: list[str], message: str
) -> None:
    scene = _scene(tmp_path / "scene.tif", size=100)
    roads = make_roads(tmp_path)
    out = tmp_path / "out"
    args = ["data", "from-vectors", str(scene), "--roads", str(roads), "--out", str(out), *extra]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert "Traceback" not in result.output
    assert not out.exists()


# -- end to end ----------------------------------------------------------------------------


@pytest.mark.slow
def test_vectorised_demo_labels_rebuild_the_surface(tmp_path: Path) -> None:
    import pandas as pd

    from roadkd.datamodules.roads import RoadDataModule
    from roadkd.datasets.synthetic import write_synthetic_dataset
    from roadkd.vectorize import VectorizeOptions, vectorize_raster

    synth = write_synthetic_dataset(tmp_path / "synth", scenes=2, size=512, seed=4)
    scenes = [image_path(synth, f"scene_{i:03d}") for i in range(2)]
    options = VectorizeOptions(threshold=0.5, extend_ends=True)
    lines = pd.concat(
        [vectorize_raster(mask_path(synth, s.stem), options).centerlines for s in scenes]
    )
    roads = tmp_path / "roads.gpkg"
    lines.to_file(roads)
    out = tmp_path / "out"
    write_dataset_from_vectors(scenes, roads, out, width_field="width_m", block_px=256)

    splits = read_splits(out)
    counts = np.zeros(3)  # intersection, union, pixels compared
    for name in splits["train"] + splits["val"] + splits["test"]:
        with rasterio.open(mask_path(out, name)) as src:
            rebuilt, bounds = src.read(1), src.bounds
        scene = name.rsplit("_r", 1)[0]
        with rasterio.open(mask_path(synth, scene)) as src:
            window = src.window(*bounds).round_offsets().round_lengths()
            truth = src.read(1, window=window) == 1
        valid = rebuilt != IGNORE_INDEX
        road = rebuilt == 1
        counts += [(road & truth & valid).sum(), ((road | truth) & valid).sum(), valid.sum()]
    assert counts[2] > 0.7 * 2 * 512 * 512  # the band and the borders leave most pixels
    assert counts[0] / counts[1] >= 0.8

    # Downstream unchanged: the datamodule takes the folder as it is.
    datamodule = RoadDataModule(out, batch_size=2, patch_size=64, labeled_ratio=1.0, length=4)
    assert datamodule.data_facts().resolution_m == pytest.approx(RES)
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))[0]
    assert batch["labeled"]["image"].shape == (2, 3, 64, 64)
    assert set(batch["labeled"]["mask"].unique().tolist()) <= {0, 1, IGNORE_INDEX}


def test_readme_width_table_is_the_code_table() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Train on your own area", 1)[1].split("\n## ", 1)[0]
    documented: dict[str, float] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[1].startswith("`"):
            for name in cells[1].replace("*", "").split(","):
                documented[name.strip().strip("`")] = float(cells[0])
    assert documented == HIGHWAY_WIDTHS_M
