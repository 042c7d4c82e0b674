"""Tests of the synthetic RoadNet-style scene generator and the dataset layout."""

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy import ndimage

from roadkd.datasets.layout import MASK_KINDS, image_path, mask_path, read_splits
from roadkd.datasets.synthetic import (
    DENSITIES,
    ROAD_SHARE,
    SEASONS,
    SURFACES,
    SceneStyle,
    generate_scene,
    synthetic_settings,
    write_synthetic_dataset,
)
from roadkd.datasets.synthetic_styles import balanced_looks
from roadkd.errors import RoadkdError


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_generate_scene_is_deterministic() -> None:
    a = generate_scene(192, np.random.default_rng([3, 0]))
    b = generate_scene(192, np.random.default_rng([3, 0]))
    c = generate_scene(192, np.random.default_rng([3, 1]))
    for field in ("image", "surface", "edge", "centerline"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.image, c.image)
    assert a.style == b.style


def test_each_scene_draws_its_style_from_its_seed() -> None:
    styles = [SceneStyle.draw(np.random.default_rng([0, i])) for i in range(40)]
    assert {s.surface for s in styles} == set(SURFACES)
    assert {s.season for s in styles} == set(SEASONS)
    assert {s.density for s in styles} == set(DENSITIES)
    assert len({s.shadow_px for s in styles}) > 5
    assert all(4 <= s.shadow_px < 30 and 0.35 <= s.shadow_darkness <= 0.7 for s in styles)
    scene = generate_scene(128, np.random.default_rng([0, 3]))
    assert scene.style == styles[3]  # the style is the scene's first draw


def test_styles_change_what_the_ground_and_roads_look_like() -> None:
    def look(**style: str) -> tuple[float, float]:
        scene = generate_scene(256, np.random.default_rng([5, 0]), SceneStyle(**style))
        road = scene.surface.astype(bool)
        brightness = scene.image.astype(float).mean(0)
        return float(brightness[~road].mean()), float(brightness[road].mean())

    green_ground, asphalt_road = look(season="green", surface="asphalt")
    snow_ground, _ = look(season="snow", surface="asphalt")
    _, concrete_road = look(season="green", surface="concrete")
    assert snow_ground > green_ground + 20  # buildings and trees stay dark
    assert concrete_road > asphalt_road + 30

    # Density sets how many streets a scene expects; each scene's share stays in its range.
    def road_share(density: str) -> float:
        shares = [
            generate_scene(
                512, np.random.default_rng([5, i]), SceneStyle(density=density)
            ).surface.mean()
            for i in range(4)
        ]
        assert all(ROAD_SHARE[0] <= s <= ROAD_SHARE[1] for s in shares)
        return float(np.mean(shares))

    assert road_share("dense") > road_share("rural")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_labels_are_consistent(seed: int) -> None:
    scene = generate_scene(256, np.random.default_rng([seed, 0]))
    assert scene.image.shape == (3, 256, 256) and scene.image.dtype == np.uint8
    for mask in (scene.surface, scene.edge, scene.centerline):
        assert mask.shape == (256, 256) and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 1}
    surface = scene.surface.astype(bool)
    assert 0.05 < surface.mean() < 0.6  # roads present but not everywhere
    # Centreline and edges lie inside the surface.
    assert not (scene.centerline.astype(bool) & ~surface).any()
    assert not (scene.edge.astype(bool) & ~surface).any()
    assert scene.centerline.any() and scene.edge.any()
    # Every surface boundary pixel is an edge pixel, and edges stay near the boundary.
    boundary = surface & ~ndimage.binary_erosion(surface, border_value=1)
    assert (scene.edge.astype(bool) | ~boundary).all()
    inner = ndimage.binary_erosion(surface, iterations=3, border_value=1)
    assert not (scene.edge.astype(bool) & inner).any()
    # The road network is mostly one connected component.
    labels, _ = ndimage.label(surface)
    sizes = np.bincount(labels.ravel())[1:]
    assert sizes.max() > 0.8 * sizes.sum()


def test_asphalt_that_is_not_road_exists() -> None:
    # Parking lots and driveways share the roads' colour: dark grey pixels off the road.
    scene = generate_scene(512, np.random.default_rng([0, 0]), SceneStyle(surface="asphalt"))
    grey = scene.image.astype(np.int16)
    spread = grey.max(0) - grey.min(0)
    road_values = grey[:, scene.surface.astype(bool)].mean(1)
    asphalt_like = (spread < 25) & (np.abs(grey.mean(0) - road_values.mean()) < 20)
    assert (asphalt_like & ~scene.surface.astype(bool)).mean() > 0.005


def test_scenes_are_as_much_road_as_real_urban_imagery() -> None:
    # 8-25 % road surface: a third of a scene would make "road everywhere" a strong map.
    shares = [generate_scene(384, np.random.default_rng([2, i])).surface.mean() for i in range(6)]
    assert all(0.08 <= s <= 0.25 for s in shares)
    narrow = generate_scene(384, np.random.default_rng([2, 0]), road_share=(0.05, 0.1))
    assert 0.05 <= narrow.surface.mean() <= 0.1


def test_every_split_holds_the_looks_in_the_same_mix(tmp_path: Path) -> None:
    root = write_synthetic_dataset(
        tmp_path / "d", scenes=12, size=128, seed=3, val_scenes=3, test_scenes=3
    )
    splits = read_splits(root)
    recorded = splits["generator"]
    assert recorded["road_share"] == list(ROAD_SHARE)
    assert synthetic_settings(scenes=12, size=128, seed=3, val_scenes=3, test_scenes=3) == recorded
    for count in (3, 9):
        looks = balanced_looks(count, np.random.default_rng(count))
        for kinds, index in ((SURFACES, 0), (SEASONS, 1)):
            counts = Counter(look[index] for look in looks)
            assert set(counts) == set(kinds) and set(counts.values()) == {count // 3}
    assert len(set(balanced_looks(9, np.random.default_rng(1)))) == 9
    # what the dataset records of its scenes: one of each surface and season in val and test
    scenes = splits["scenes"]
    for split in ("val", "test"):
        assert {scenes[n]["surface"] for n in splits[split]} == set(SURFACES)
        assert {scenes[n]["season"] for n in splits[split]} == set(SEASONS)
    assert all(0.08 <= v["road_share"] <= 0.25 for v in scenes.values())


def test_write_dataset_is_byte_identical(tmp_path: Path) -> None:
    a = write_synthetic_dataset(tmp_path / "a", scenes=3, size=128, seed=7)
    b = write_synthetic_dataset(tmp_path / "b", scenes=3, size=128, seed=7)
    assert _digest(a) == _digest(b)
    splits = read_splits(a)
    assert (len(splits["train"]), len(splits["val"]), len(splits["test"])) == (1, 1, 1)
    assert splits["unlabeled"] == [] and splits["source"] == "synthetic"
    bounds = []
    for name in splits["train"] + splits["val"] + splits["test"]:
        with rasterio.open(image_path(a, name)) as src:
            assert src.crs.to_epsg() == 32618
            assert src.res == pytest.approx((0.21, 0.21))
            assert src.count == 3 and src.profile["tiled"]
            assert src.colorinterp[0].name == "red"
            assert src.compression is not None and src.compression.value == "DEFLATE"
            assert 400_000 < src.bounds.left < 500_000 and 4_990_000 < src.bounds.top < 5_100_000
            bounds.append(src.bounds)
            transform = src.transform
        for kind in MASK_KINDS:
            with rasterio.open(mask_path(a, name, kind)) as src:
                assert src.count == 1 and src.dtypes[0] == "uint8"
                assert src.transform == transform
    for i, x in enumerate(bounds):
        for y in bounds[i + 1 :]:
            assert x.right <= y.left or y.right <= x.left


def test_split_sizes(tmp_path: Path) -> None:
    root = write_synthetic_dataset(tmp_path / "d", scenes=7, size=128, seed=0)
    splits = read_splits(root)
    assert len(splits["train"]) >= 4 and len(splits["val"]) >= 1 and len(splits["test"]) >= 1
    assert len(set(splits["train"] + splits["val"] + splits["test"])) == 7
    chosen = write_synthetic_dataset(
        tmp_path / "e", scenes=7, size=128, val_scenes=1, test_scenes=4, styles=False
    )
    splits = read_splits(chosen)
    assert [len(splits[k]) for k in ("train", "val", "test")] == [2, 1, 4]
    with pytest.raises(RoadkdError, match="leave training scenes"):
        write_synthetic_dataset(tmp_path / "f", scenes=5, size=128, val_scenes=1, test_scenes=4)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(RoadkdError, match="scenes"):
        write_synthetic_dataset(tmp_path / "x", scenes=0)
    with pytest.raises(RoadkdError, match="size"):
        write_synthetic_dataset(tmp_path / "x", size=10)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "f").write_text("x")
    with pytest.raises(RoadkdError, match="not empty"):
        write_synthetic_dataset(tmp_path / "busy", scenes=1, size=128)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]
    # Missing parent folders are created, as users expect from --out.
    assert (
        write_synthetic_dataset(tmp_path / "new" / "d", scenes=1, size=128) / "splits.json"
    ).is_file()
