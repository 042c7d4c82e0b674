"""Users' imagery: resolution, CRS, bit depth and bands, on small generated scenes.

Geometry is tested with a stand-in backend whose road probability is the first band / 255,
so every expected answer follows from the drawing: a bright road on a dark ground.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from click.testing import CliRunner
from PIL import Image
from pyproj import Geod
from rasterio.enums import ColorInterp
from rasterio.warp import Resampling, calculate_default_transform, reproject
from rasterio.windows import Window
from roadkd_cli.main import cli
from shapely.geometry import LineString, MultiLineString

from roadkd.datamodules.roads import RoadDataModule
from roadkd.datasets.layout import dataset_resolution_m
from roadkd.errors import RoadkdError
from roadkd.ground import area_km2, ground_resolution_m
from roadkd.imagery import ReadOptions, SceneReader, parse_bands, read_on_grid
from roadkd.inference import predict_scene
from roadkd.models import DeployBundle, ModelConfig, build_model, save_bundle
from roadkd.models.deploy import DataFacts
from roadkd.vectorize import VectorizeOptions, vectorize_array

UTM = "EPSG:32618"
ORIGIN = (445000.0, 5030000.0)
EXTENT_M = 256 * 0.21  # 53.76 m: a whole number of pixels at 0.105, 0.21 and 0.42 m


class BrightnessBackend:
    """A model stand-in: road probability = first band / 255, at 0.21 m/px."""

    in_channels, device = 3, torch.device("cpu")
    data = DataFacts((0.0,) * 3, (1.0,) * 3, tile_size=64, resolution_m=0.21)

    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        return batch[:, 0] / 255.0


def road_image(resolution: float, extent: float = EXTENT_M) -> np.ndarray:
    """(3, n, n) uint8: a 4 m wide diagonal road (y = 0.3 x + 12 m) with 1 m soft edges."""
    n = round(extent / resolution)
    centres = (np.arange(n) + 0.5) * resolution
    x, y_down = np.meshgrid(centres, centres)
    y = extent - y_down
    distance = np.abs(0.3 * x - y + 12.0) / math.hypot(0.3, 1.0)
    road = np.clip(2.5 - distance, 0.0, 1.0)
    band = (50 + 170 * road).round().astype(np.uint8)
    return np.stack([band, (band * 0.8).astype(np.uint8), (band * 0.6).astype(np.uint8)])


def write_raster(
    path: Path,
    pixels: np.ndarray,
    transform: Affine,
    crs: str = UTM,
    colorinterp: list[ColorInterp] | None = None,
    nodata: float | None = None,
) -> Path:
    profile = {
        "driver": "GTiff",
        "width": pixels.shape[2],
        "height": pixels.shape[1],
        "count": pixels.shape[0],
        "dtype": pixels.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
    }
    if pixels.shape[0] != 3:
        profile["photometric"] = "MINISBLACK"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(pixels)
        if colorinterp is not None:
            dst.colorinterp = colorinterp
    return path


def road_scene(tmp_path: Path, resolution: float, name: str | None = None) -> Path:
    transform = Affine(resolution, 0, ORIGIN[0], 0, -resolution, ORIGIN[1])
    return write_raster(
        tmp_path / (name or f"road_{resolution}.tif"), road_image(resolution), transform
    )


def probability(path: Path) -> tuple[np.ndarray, Affine, rasterio.crs.CRS]:
    with rasterio.open(path) as src:
        return src.read(1), src.transform, src.crs


def centreline(prob: np.ndarray, transform: Affine, crs: object) -> MultiLineString:
    options = VectorizeOptions(threshold=0.5, min_blob_m2=0.0, min_network_m=0.0)
    lines = vectorize_array(prob, transform, crs, options).centerlines.geometry
    return MultiLineString([g for g in lines if isinstance(g, LineString)])


def full_window(reader: SceneReader) -> Window:
    return Window(0, 0, reader.width, reader.height)  # type: ignore[no-untyped-call]


# -- resolution ------------------------------------------------------------------------------


@pytest.mark.parametrize(("resolution", "resampling"), [(0.42, "bilinear"), (0.105, "average")])
def test_scene_at_another_resolution_gives_the_same_road(
    tmp_path: Path, resolution: float, resampling: str
) -> None:
    backend = BrightnessBackend()
    reference, other = tmp_path / "ref.tif", tmp_path / "other.tif"
    predict_scene(road_scene(tmp_path, 0.21), backend, reference, tile=64, overlap=16)
    lines: list[str] = []
    summary = predict_scene(
        road_scene(tmp_path, resolution), backend, other, tile=64, overlap=16, log=lines.append
    )
    assert summary.plan is not None and summary.plan.resampling is not None
    assert summary.plan.resampling.name == resampling
    assert f"({resampling})" in lines[0] and len(lines) == 1
    prob_ref, transform_ref, crs_ref = probability(reference)
    prob, transform, crs = probability(other)
    # the model's grid: the scene's CRS and extent at 0.21 m/px
    assert crs == crs_ref and prob.shape == prob_ref.shape == (256, 256)
    assert transform.almost_equals(transform_ref)
    assert summary.area_km2 == pytest.approx(EXTENT_M**2 / 1e6, rel=2e-3)
    assert np.abs(prob - prob_ref).mean() < 0.02
    road_ref, road = prob_ref >= 0.5, prob >= 0.5
    assert (road & road_ref).sum() / (road | road_ref).sum() > 0.9
    # centrelines within one pixel of the coarser grid
    coarser = max(resolution, 0.21)
    line_ref, line = centreline(prob_ref, transform, crs), centreline(prob, transform, crs)
    assert line_ref.length > 40 and line.length == pytest.approx(line_ref.length, rel=0.05)
    assert (
        line.hausdorff_distance(line_ref) <= coarser + 1e-6
        or _trimmed_hausdorff(line, line_ref) <= coarser
    )


def _trimmed_hausdorff(a: MultiLineString, b: MultiLineString) -> float:
    """Hausdorff distance away from the scene border (line ends may stop a pixel apart)."""
    points = [a.interpolate(t, normalized=True) for t in np.linspace(0.05, 0.95, 50)]
    points += [b.interpolate(t, normalized=True) for t in np.linspace(0.05, 0.95, 50)]
    return max(max(p.distance(a), p.distance(b)) for p in points)


def test_native_resolution_keeps_the_scene_grid(tmp_path: Path) -> None:
    scene = road_scene(tmp_path, 0.42)
    out = tmp_path / "prob.tif"
    predict_scene(
        scene,
        BrightnessBackend(),
        out,
        tile=64,
        overlap=16,
        options=ReadOptions(native_resolution=True),
    )
    with rasterio.open(scene) as src, rasterio.open(out) as dst:
        assert (dst.transform, dst.shape, dst.crs) == (src.transform, src.shape, src.crs)


def test_far_resolutions_are_refused_and_coarser_warned(tmp_path: Path) -> None:
    coarse = road_scene(tmp_path, 0.21 * 9)
    with pytest.raises(RoadkdError, match=r"9\.0x coarser.*--any-resolution"):
        SceneReader(coarse, 3, 0.21)
    lines: list[str] = []
    with SceneReader(coarse, 3, 0.21, ReadOptions(any_resolution=True), lines.append) as reader:
        assert reader.transform.a == pytest.approx(0.21)
    assert len(lines) == 2 and lines[1].startswith("warning:") and "9.0x coarser" in lines[1]
    lines.clear()
    with SceneReader(road_scene(tmp_path, 0.63), 3, 0.21, log=lines.append):
        pass
    assert len(lines) == 2 and "3.0x coarser" in lines[1]
    with pytest.raises(RoadkdError, match=r"9\.0x finer"):
        SceneReader(road_scene(tmp_path, 0.21 / 9), 3, 0.21)
    lines.clear()
    with SceneReader(road_scene(tmp_path, 0.105), 3, 0.21, log=lines.append):
        pass
    assert len(lines) == 1  # 2x finer: resampled, no warning


def test_rotated_and_foot_grids_are_measured_on_the_ground(tmp_path: Path) -> None:
    rotated = Affine.translation(*ORIGIN) @ Affine.rotation(30) @ Affine.scale(0.21, -0.21)
    assert ground_resolution_m(rotated, UTM, (256, 256)) == pytest.approx(0.21, rel=2e-3)
    with SceneReader(write_raster(tmp_path / "rot.tif", road_image(0.21), rotated), 3, 0.21) as r:
        assert r.plan.resampling is None and r.transform == rotated  # already at 0.21 m
    fine = Affine.translation(*ORIGIN) @ Affine.rotation(30) @ Affine.scale(0.105, -0.105)
    with SceneReader(write_raster(tmp_path / "rot2.tif", road_image(0.105), fine), 3, 0.21) as r:
        # north-up at 0.21 m covering the rotated square's envelope: side * (cos + sin)
        assert r.transform.b == 0 and r.transform.a == pytest.approx(0.21, rel=2e-3)
        assert r.width == pytest.approx(EXTENT_M * (math.cos(0.5236) + 0.5) / 0.21, abs=2)
    # New York Long Island, US survey feet: 0.21 m = 0.689 ft
    feet = 0.21 / 0.3048006096
    ny = Affine(feet / 2, 0, 1000000.0, 0, -feet / 2, 200000.0)
    assert ground_resolution_m(ny, "EPSG:2263", (512, 512)) == pytest.approx(0.105, rel=2e-3)
    with SceneReader(
        write_raster(tmp_path / "ft.tif", road_image(0.105), ny, "EPSG:2263"), 3, 0.21
    ) as r:
        assert r.crs.to_epsg() == 2263 and r.plan.resampling == Resampling.average
        assert r.plan.resolution_m == 0.21 and r.width == pytest.approx(256, abs=1)


# -- CRS -------------------------------------------------------------------------------------


def _to_wgs84(source: Path, out: Path) -> Path:
    with rasterio.open(source) as src:
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:4326", src.width, src.height, *src.bounds
        )
        pixels = np.zeros((src.count, height, width), np.uint8)
        reproject(
            src.read(),
            pixels,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=transform,
            dst_crs="EPSG:4326",
            resampling=Resampling.bilinear,
        )
    return write_raster(out, pixels, transform, "EPSG:4326", nodata=0)


def test_geographic_scene_is_reprojected_to_utm(tmp_path: Path) -> None:
    backend = BrightnessBackend()
    original = road_scene(tmp_path, 0.21)
    reference, other = tmp_path / "ref.tif", tmp_path / "other.tif"
    predict_scene(original, backend, reference, tile=64, overlap=16)
    lines: list[str] = []
    summary = predict_scene(
        _to_wgs84(original, tmp_path / "wgs84.tif"), backend, other, 64, 16, log=lines.append
    )
    assert "reprojected EPSG:4326 -> EPSG:32618" in lines[0]
    prob_ref, transform_ref, crs = probability(reference)
    with rasterio.open(other) as dst:
        assert dst.crs.to_epsg() == 32618 and dst.res == pytest.approx((0.21, 0.21))
    with rasterio.open(tmp_path / "wgs84.tif") as src:
        left, bottom, right, top = src.bounds
    area_m2, _ = Geod(ellps="WGS84").polygon_area_perimeter(
        [left, right, right, left], [bottom, bottom, top, top]
    )
    assert summary.area_km2 == pytest.approx(abs(area_m2) / 1e6, rel=1e-3)
    prob = read_on_grid(other, crs, transform_ref, prob_ref.shape)
    inside = np.isfinite(prob)
    assert inside[5:-5, 5:-5].all()  # the whole scene, less the reprojected border
    road_ref, road = (prob_ref >= 0.5) & inside, np.nan_to_num(prob) >= 0.5
    assert (road & road_ref).sum() / (road | road_ref).sum() > 0.9
    assert (
        _trimmed_hausdorff(
            centreline(np.nan_to_num(prob), transform_ref, crs),
            centreline(prob_ref, transform_ref, crs),
        )
        <= 0.21
    )


def test_area_is_right_in_degrees_and_feet() -> None:
    # 0.001 x 0.001 degrees at latitude 45: 78.8 m x 111.1 m
    degrees = Affine(1e-5, 0, -75.7, 0, -1e-5, 45.0005)
    assert area_km2(degrees, "EPSG:4326", (100, 100)) == pytest.approx(0.07882 * 0.11112, rel=5e-3)
    # 1000 x 1000 US survey feet
    feet = Affine(1.0, 0, 1000000.0, 0, -1.0, 200000.0)
    assert area_km2(feet, "EPSG:2263", (1000, 1000)) == pytest.approx(0.3048006**2, rel=2e-3)


def test_sheared_and_rotated_grids_measure_areas_by_the_determinant(tmp_path: Path) -> None:
    # Rows 0.21 m apart and slanted 0.1 m east: a pixel is 0.21 x 0.21 m2 of ground, not
    # 0.21 x 0.233 (the sides' lengths), and the grid is a 0.21 m grid.
    sheared = Affine(0.21, 0.1, ORIGIN[0], 0, -0.21, ORIGIN[1])
    turned = Affine.translation(*ORIGIN) @ Affine.rotation(25) @ Affine.shear(20)
    both = turned @ Affine.scale(0.21, -0.21)
    for grid in (sheared, both):
        det = abs(grid.determinant)
        assert area_km2(grid, UTM, (200, 300)) == pytest.approx(200 * 300 * det / 1e6, rel=2e-3)
        assert ground_resolution_m(grid, UTM, (200, 300)) == pytest.approx(math.sqrt(det))
    # in degrees: a sheared grid covers what the north-up grid of the same rows does
    north_up = Affine(1e-5, 0, -75.7, 0, -1e-5, 45.0005)
    slanted = Affine(1e-5, 4e-6, -75.7, 0, -1e-5, 45.0005)
    assert area_km2(slanted, "EPSG:4326", (100, 100)) == pytest.approx(
        area_km2(north_up, "EPSG:4326", (100, 100)), rel=1e-3
    )
    # the scene's area the summary line adds up
    with SceneReader(
        write_raster(tmp_path / "sheared.tif", road_image(0.21), sheared), 3, 0.21
    ) as r:
        rows, cols = r.plan.height, r.plan.width
        assert r.plan.resampling is None  # already a 0.21 m grid
        assert r.plan.area_km2 == pytest.approx(rows * cols * 0.21**2 / 1e6, rel=2e-3)


# -- bit depth -------------------------------------------------------------------------------


def _model_input(path: Path, options: ReadOptions | None = None) -> np.ndarray:
    with SceneReader(path, 3, 0.21, options) as reader:
        pixels, valid = reader.read(full_window(reader))
    assert valid.all()
    return pixels


def test_16_bit_and_float_scenes_reach_the_model_as_0_255(tmp_path: Path) -> None:
    image = road_image(0.21)
    transform = Affine(0.21, 0, ORIGIN[0], 0, -0.21, ORIGIN[1])
    uint8 = write_raster(tmp_path / "u8.tif", image, transform)
    uint16 = write_raster(tmp_path / "u16.tif", image.astype(np.uint16) * 16, transform)
    float32 = write_raster(tmp_path / "f32.tif", image.astype(np.float32) / 255, transform)
    int16 = write_raster(tmp_path / "i16.tif", image.astype(np.int16) * 16 - 1000, transform)
    raw = _model_input(uint8)
    np.testing.assert_array_equal(raw, image)
    # --scale to the range they were made from: the uint8 input within rounding
    np.testing.assert_allclose(_model_input(uint16, ReadOptions(scale=(0, 4080))), raw, atol=1e-3)
    np.testing.assert_allclose(_model_input(float32, ReadOptions(scale=(0, 1))), raw, atol=1e-3)
    # default: the same per-band 2-98 % stretch whatever the storage
    stretched = [_model_input(p) for p in (uint16, float32, int16)]
    low, high = np.percentile(image.reshape(3, -1), (2, 98), axis=1)
    expected = np.clip((image - low[:, None, None]) / (high - low)[:, None, None] * 255, 0, 255)
    for pixels in stretched:
        np.testing.assert_allclose(pixels, expected, atol=0.02)


def test_float_nan_is_nodata(tmp_path: Path) -> None:
    image = road_image(0.21).astype(np.float32) / 255
    image[:, :10] = np.nan
    scene = write_raster(tmp_path / "nan.tif", image, Affine(0.21, 0, 0, 0, -0.21, 0))
    with SceneReader(scene, 3, 0.21) as reader:
        pixels, valid = reader.read(full_window(reader))
    assert not valid[:10].any() and valid[10:].all() and np.isfinite(pixels).all()


# -- bands -----------------------------------------------------------------------------------


def test_bands_are_picked_by_colour_interpretation(tmp_path: Path) -> None:
    image = road_image(0.21)
    transform = Affine(0.21, 0, ORIGIN[0], 0, -0.21, ORIGIN[1])
    ci = ColorInterp
    bgr = write_raster(
        tmp_path / "bgr.tif", image[::-1].copy(), transform, colorinterp=[ci.blue, ci.green, ci.red]
    )
    nir = image[:1] // 2
    rgbn = write_raster(
        tmp_path / "rgbn.tif",
        np.concatenate([image, nir]),
        transform,
        colorinterp=[ci.red, ci.green, ci.blue, ci.undefined],
    )
    nrgb = write_raster(
        tmp_path / "nrgb.tif",
        np.concatenate([nir, image]),
        transform,
        colorinterp=[ci.undefined, ci.red, ci.green, ci.blue],
    )
    plain = write_raster(
        tmp_path / "plain.tif",
        np.concatenate([image, nir]),
        transform,
        colorinterp=[ci.gray, ci.undefined, ci.undefined, ci.undefined],
    )
    for path, bands in ((bgr, (3, 2, 1)), (rgbn, (1, 2, 3)), (nrgb, (2, 3, 4)), (plain, (1, 2, 3))):
        with SceneReader(path, 3, 0.21) as reader:
            assert reader.plan.bands == bands
            np.testing.assert_array_equal(reader.read(full_window(reader))[0], image)
    with SceneReader(bgr, 3, 0.21, ReadOptions(bands=(1, 2, 3))) as reader:
        assert "bands 1,2,3 (blue, green, red; --bands)" in reader.plan.describe()
    with pytest.raises(RoadkdError, match="has bands 1-4 only"):
        SceneReader(rgbn, 3, 0.21, ReadOptions(bands=(1, 2, 5)))
    with pytest.raises(RoadkdError, match="gives 2 band"):
        SceneReader(rgbn, 3, 0.21, ReadOptions(bands=(1, 2)))
    assert parse_bands("4,3,2") == (4, 3, 2)
    with pytest.raises(RoadkdError):
        parse_bands("1,x,3")


# -- the command line and evaluation ---------------------------------------------------------


def test_predict_cli_options(model_path: Path, tmp_path: Path) -> None:
    image = road_image(1.89, extent=30 * 1.89)  # 30 px, 9x coarser than the model
    scene = write_raster(
        tmp_path / "coarse.tif",
        image.astype(np.uint16) * 16,
        Affine(1.89, 0, ORIGIN[0], 0, -1.89, ORIGIN[1]),
    )
    base = ["predict", str(scene), "--model", str(model_path), "--device", "cpu"]
    base += ["--tile", "64", "--overlap", "16", "--out", str(tmp_path / "roads.gpkg")]
    refused = CliRunner().invoke(cli, base)
    assert (
        refused.exit_code == 1 and "Error:" in refused.output and "9.0x coarser" in refused.output
    )
    assert "Traceback" not in refused.output and not (tmp_path / "roads.gpkg").exists()
    prob = tmp_path / "prob.tif"
    args = [
        *base,
        "--any-resolution",
        "--bands",
        "3,2,1",
        "--scale",
        "0",
        "4080",
        "--prob",
        str(prob),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "bands 3,2,1" in result.output and "0-4080 -> 0-255 (--scale)" in result.output
    assert "resampled 1.89 -> 0.21 m/px (bilinear)" in result.output
    assert result.output.count("warning:") == 1
    with rasterio.open(prob) as src:
        assert src.res == pytest.approx((0.21, 0.21)) and src.width == 270
    bad = CliRunner().invoke(cli, [*base, "--bands", "1,,2"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_predict_summary_and_preview_for_a_scene_in_degrees(
    model_path: Path, tmp_path: Path
) -> None:
    degrees = _to_wgs84(road_scene(tmp_path, 0.21), tmp_path / "wgs84.tif")
    with rasterio.open(degrees) as src:  # and 16-bit: the preview must not be white
        profile, pixels = src.profile, src.read()
    scene = tmp_path / "wgs84_u16.tif"
    with rasterio.open(scene, "w", **{**profile, "dtype": "uint16"}) as dst:
        dst.write(pixels.astype(np.uint16) * 16)
    out, preview = tmp_path / "roads.geojson", tmp_path / "preview.png"
    args = ["predict", str(scene), "--model", str(model_path), "--device", "cpu", "--out", str(out)]
    result = CliRunner().invoke(
        cli, [*args, "--tile", "64", "--overlap", "16", "--preview", str(preview)]
    )
    assert result.exit_code == 0, result.output
    assert "0.003 km2" in result.output  # 53.76 m square in degrees; not 0.000
    picture = np.asarray(Image.open(preview).convert("L"), np.float32)
    assert abs(picture.shape[0] - 256) <= 8  # drawn on the 0.21 m UTM grid, not in degrees
    # the stretched scene (dark ground, bright road), not a saturated 16-bit image
    assert picture.mean() < 128 and np.percentile(picture, 99) > 128


def test_evaluate_scores_on_the_label_grid(
    road_dataset: Path, tmp_path: Path, shallow_config: ModelConfig
) -> None:
    from roadkd.evaluation import evaluate

    coarse_model = tmp_path / "coarse.pt"
    bundle = DeployBundle(
        model=build_model(shallow_config).eval(),
        config=shallow_config,
        tile_size=64,
        resolution_m=0.42,
    )
    save_bundle(bundle, coarse_model)
    result = evaluate(coarse_model, road_dataset, "test", device="cpu")
    (scores,) = result.scenes.values()
    assert 0.0 <= scores["road_iou"] <= 1.0 and math.isfinite(scores["apls"])


# -- what training records -------------------------------------------------------------------


def test_datamodule_states_the_data_resolution(road_dataset: Path, tmp_path: Path) -> None:
    facts = RoadDataModule(road_dataset, patch_size=64).data_facts()
    assert facts.resolution_m == 0.21 and facts.tile_size == 64
    # without a stated resolution, the rasters are measured (UTM scale factor included)
    copy = tmp_path / "data"
    copy.mkdir()
    for item in road_dataset.iterdir():
        (copy / item.name).symlink_to(item)
    splits = json.loads((road_dataset / "splits.json").read_text())
    (copy / "splits.json").unlink()
    (copy / "splits.json").write_text(json.dumps({**splits, "resolution_m": None}))
    assert dataset_resolution_m(copy) == pytest.approx(0.21, rel=1e-3)
    (copy / "splits.json").write_text(json.dumps({**splits, "resolution_m": 0.5}))
    with pytest.raises(RoadkdError, match=r"states resolution_m 0\.5"):
        RoadDataModule(copy).data_facts()


def test_scenes_of_different_resolutions_are_refused_for_training(tmp_path: Path) -> None:
    from roadkd.datasets.layout import write_scene, write_splits

    mask = np.zeros((64, 64), np.uint8)
    masks = dict.fromkeys(("surface", "edge", "centerline"), mask)
    for name, res, x0 in (("a", 0.21, 0.0), ("b", 0.3, 100.0)):
        image = road_image(res, extent=64 * res)
        write_scene(
            tmp_path, name, image, masks, Affine(res, 0, ORIGIN[0] + x0, 0, -res, ORIGIN[1]), UTM
        )
    write_splits(tmp_path, {"train": ["a"], "val": ["b"]})
    with pytest.raises(RoadkdError, match=r"differ in resolution \(a 0\.21, b 0\.3 m/px\)"):
        RoadDataModule(tmp_path).data_facts()


def test_nodata_stays_nodata_when_resampled(tmp_path: Path) -> None:
    image = road_image(0.105)
    image[:, :40] = 0  # a nodata strip 40 px (4.2 m) high
    transform = Affine(0.105, 0, ORIGIN[0], 0, -0.105, ORIGIN[1])
    scene = write_raster(tmp_path / "nodata.tif", image, transform, nodata=0)
    with SceneReader(scene, 3, 0.21) as reader:
        assert reader.plan.resampling == Resampling.average
        _, valid = reader.read(full_window(reader))
    assert not valid[:19].any() and valid[21:].all()  # 20 rows at 0.21 m, edge row either way
