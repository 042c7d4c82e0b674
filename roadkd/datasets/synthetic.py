"""Synthetic, georeferenced RoadNet-style scenes: the embedded default data set.

Each scene imitates a 0.21 m/px suburb near Ottawa: a connected network of arterials and
residential streets (curves, junctions, dead ends), lane markings and sidewalks, buildings
with cast shadows, trees whose canopy hides parts of roads, cars, parking lots and
driveways (asphalt that is *not* road, the main source of ambiguity), grass and soil, with
per-scene illumination and colour. Labels follow RoadNet: road under a tree is still road.

Each scene also draws a :class:`SceneStyle` from its seed: the road surface (asphalt,
concrete, gravel), the season (green, dry, snow), the sun (direction and shadow length) and
the density (rural to dense). A few labelled blocks then do not show every look a road can
have, so a model trained on them should generalise worse than one trained on all scenes.
"""

import inspect
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from scipy import ndimage
from skimage.draw import polygon as draw_polygon

from ..errors import RoadkdError
from ..normalization import ROADNET_RESOLUTION_M
from .layout import staged_dataset, write_scene, write_splits
from .synthetic_roads import ROAD_SHARE, road_network
from .synthetic_styles import DENSITIES, SEASONS, SURFACES, SceneStyle, balanced_looks

#: Projected CRS of the synthetic scenes (UTM zone 18N, around Ottawa).
SYNTHETIC_CRS = "EPSG:32618"
#: Upper-left corner of the first scene, in SYNTHETIC_CRS metres (south of Ottawa).
SYNTHETIC_ORIGIN = (445_000.0, 5_030_000.0)
#: Seed stream of the per-split look assignment (apart from the scenes' own streams).
SPLIT_LOOKS_STREAM = 1_000_003


@dataclass
class SyntheticScene:
    """One generated scene.

    Attributes:
        image: (3, H, W) uint8 RGB.
        surface: (H, W) uint8 0/1 road surface.
        edge: (H, W) uint8 0/1 road edge (inner boundary of the surface).
        centerline: (H, W) uint8 0/1 road centreline (inside the surface).
        style: how the scene looks.
    """

    image: np.ndarray
    surface: np.ndarray
    edge: np.ndarray
    centerline: np.ndarray
    style: SceneStyle


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Low-frequency noise in [-1, 1] (textures of grass, soil, illumination).

    Wide blurs are made on a coarser grid and zoomed back (smooth noise has nothing finer
    to lose), which keeps a scene's generation time from growing with ``sigma``.
    """
    step = max(1, int(sigma // 4))
    coarse = shape if step == 1 else (shape[0] // step + 2, shape[1] // step + 2)
    noise: np.ndarray = ndimage.gaussian_filter(
        rng.standard_normal(coarse).astype(np.float32), sigma / step
    )
    if step > 1:
        noise = ndimage.zoom(noise, step, order=1)[: shape[0], : shape[1]]
    return noise / np.float32(np.abs(noise).max() + 1e-6)


def _shifted(mask: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``mask`` moved by (rows, cols) pixels, with nothing coming in from outside."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    src_r, dst_r = slice(max(0, -rows), min(h, h - rows)), slice(max(0, rows), min(h, h + rows))
    src_c, dst_c = slice(max(0, -cols), min(w, w - cols)), slice(max(0, cols), min(w, w + cols))
    out[dst_r, dst_c] = mask[src_r, src_c]
    return out


def _rectangle(
    rng: np.random.Generator, centre: np.ndarray, h: float, w: float
) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of a rotated rectangle (rows, cols)."""
    angle = rng.uniform(0, np.pi)
    corners = np.array([[-h, -w], [-h, w], [h, w], [h, -w]]) / 2
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = corners @ rot.T + centre
    return pts[:, 0], pts[:, 1]


def generate_scene(
    size: int,
    rng: np.random.Generator,
    style: SceneStyle | None = None,
    road_share: tuple[float, float] = ROAD_SHARE,
) -> SyntheticScene:
    """Generate one RoadNet-style scene.

    Args:
        size: side length in pixels.
        rng: the random generator that makes the scene (seed it for determinism).
        style: how the scene looks; None draws one from ``rng``.
        road_share: the range of the share of pixels that are road surface (see
            :func:`~.synthetic_roads.road_network` for scenes too small to hold a road
            within it).

    Returns:
        The scene's image, its three label rasters and its style.
    """
    if style is None:
        style = SceneStyle.draw(rng)
    shape = (size, size)
    ground, soil_colour, canopy_base = SEASONS[style.season]
    streets, built_share, site_step, tree_factor = DENSITIES[style.density]
    # Ground: grass (or dry grass, or snow) with soil patches.
    grass = np.array(ground, np.float32) * rng.uniform(0.85, 1.15, 3)
    soil = np.array(soil_colour, np.float32) * rng.uniform(0.9, 1.1, 3)
    soil_mix = np.clip(_smooth_noise(rng, shape, size / 12) * 2.5 - 0.8, 0, 1)[..., None]
    img = grass * (1 - soil_mix) + soil * soil_mix
    img *= 1 + 0.12 * _smooth_noise(rng, shape, 3)[..., None]

    # Roads.
    surface, centre_all, arterial_centre = road_network(rng, size, streets, road_share)
    dist_out = ndimage.distance_transform_edt(~surface)

    # Distractors: parking lots and driveways (asphalt, not road) next to roads.
    asphalt_extra = np.zeros(shape, bool)
    near_road = (dist_out > 15) & (dist_out < 60)
    candidates = np.argwhere(near_road[::16, ::16]) * 16
    for idx in rng.choice(
        len(candidates), size=min(len(candidates), int(rng.integers(2, 5))), replace=False
    ):
        rows, cols = _rectangle(rng, candidates[idx], rng.uniform(60, 140), rng.uniform(80, 180))
        rr, cc = draw_polygon(rows, cols, shape)
        asphalt_extra[rr, cc] = True
    asphalt_extra &= ~surface

    # Buildings away from roads, each with a driveway to the nearest road.
    buildings = np.zeros(shape, bool)
    free = (dist_out > 30) & (dist_out < 110) & ~asphalt_extra
    sites = np.argwhere(free[::site_step, ::site_step]) * site_step
    # Roofs: greys, browns and dark shingles with a mild tint, as in Ottawa suburbs.
    roof_colours = (
        rng.uniform(60, 190, (len(sites), 1)) * rng.uniform(0.85, 1.15, (len(sites), 3))
    ).astype(np.float32)
    chosen = rng.random(len(sites)) < built_share
    roofs = np.zeros((*shape, 3), np.float32)
    for (r, c), colour, take in zip(sites, roof_colours, chosen, strict=True):
        if not take:
            continue
        rows, cols = _rectangle(
            rng, np.array([r, c], float), rng.uniform(40, 70), rng.uniform(40, 80)
        )
        rr, cc = draw_polygon(rows, cols, shape)
        if (surface[rr, cc] | asphalt_extra[rr, cc] | buildings[rr, cc]).any():
            continue
        buildings[rr, cc] = True
        roofs[rr, cc] = colour * (1 + 0.05 * rng.standard_normal(3))
        if rng.random() < 0.7:  # driveway: a short asphalt strip towards the road
            dr = int(np.sign(rng.standard_normal()))
            length = int(rng.uniform(20, 45))
            r0, c0 = int(np.clip(r, 0, size - 1)), int(np.clip(c, 0, size - 1))
            if rng.random() < 0.5:
                rs = slice(min(r0, r0 + dr * length), max(r0, r0 + dr * length))
                asphalt_extra[rs, max(0, c0 - 6) : c0 + 6] = True
            else:
                cs = slice(min(c0, c0 + dr * length), max(c0, c0 + dr * length))
                asphalt_extra[max(0, r0 - 6) : r0 + 6, cs] = True
    asphalt_extra &= ~surface & ~buildings

    # Paint the road material (roads and distractors share it).
    material, grain = SURFACES[style.surface]
    asphalt = np.array(material, np.float32) * rng.uniform(0.8, 1.25)
    texture = 1 + grain * _smooth_noise(rng, shape, 1.5)[..., None]
    road_paint = surface | asphalt_extra
    img[road_paint] = (asphalt * texture[road_paint]).astype(np.float32)
    if style.season == "snow":  # ploughed, with packed snow and slush left in patches
        slush = np.clip(_smooth_noise(rng, shape, 6) * 1.5, 0, 0.7)[..., None]
        snowy = img * (1 - slush) + np.array(ground, np.float32) * slush
        img[road_paint] = snowy[road_paint]
    # Sidewalks along roads: light concrete strips, sometimes missing.
    sidewalk = (dist_out > 3) & (dist_out < 10) & (_smooth_noise(rng, shape, 40) > -0.3)
    sidewalk &= ~road_paint & ~buildings
    img[sidewalk] = np.array([170, 168, 160], np.float32) * rng.uniform(0.85, 1.1)
    # Dashed lane markings on paved arterials; parking-bay stripes on lots.
    yy, xx = np.mgrid[0:size, 0:size]
    dashes = ((yy + xx) // 18) % 2 == 0
    marking = ndimage.binary_dilation(arterial_centre, iterations=1) & dashes & surface
    if style.surface != "gravel":
        img[marking] = np.array([225, 215, 170], np.float32)
    bays = asphalt_extra & (xx % 14 < 2) & (rng.random() < 0.7)
    img[bays] = np.array([215, 215, 210], np.float32)

    # Buildings with shadows cast away from the sun (shadows fall across roads too).
    down = round(float(style.shadow_px * np.sin(style.sun_azimuth)))
    across = round(float(style.shadow_px * np.cos(style.sun_azimuth)))
    shadow = _shifted(buildings, down, across) & ~buildings
    img[shadow] *= style.shadow_darkness
    if style.season == "snow":  # snow on most roofs
        snowy_roof = buildings & (_smooth_noise(rng, shape, 20) > -0.4)
        roofs[snowy_roof] = roofs[snowy_roof] * 0.35 + 0.65 * 238
    img[buildings] = roofs[buildings]

    # Cars on roads and in lots.
    for area, count in ((surface, rng.integers(8, 25)), (asphalt_extra, rng.integers(5, 20))):
        spots = np.argwhere(area[::8, ::8]) * 8
        if len(spots) == 0:
            continue
        for idx in rng.choice(len(spots), size=min(int(count), len(spots)), replace=False):
            rows, cols = _rectangle(rng, spots[idx].astype(float), 20, 9)
            rr, cc = draw_polygon(rows, cols, shape)
            img[rr, cc] = rng.uniform(20, 230, 3)

    # Trees: canopies anywhere, many along roads, hiding the asphalt below.
    canopy = np.zeros(shape, bool)
    n_trees = int(rng.integers(40, 90) * tree_factor * (size / 1024) ** 2)
    edge_sites = np.argwhere((dist_out > 0) & (dist_out < 8))
    for i in range(n_trees):
        if i % 2 == 0 and len(edge_sites):
            r, c = edge_sites[rng.integers(len(edge_sites))]
        else:
            r, c = rng.integers(0, size, 2)
        radius = rng.uniform(8, 22)
        r0, r1 = int(max(0, r - radius)), int(min(size, r + radius + 1))
        c0, c1 = int(max(0, c - radius)), int(min(size, c + radius + 1))
        disk = (yy[r0:r1, c0:c1] - r) ** 2 + (xx[r0:r1, c0:c1] - c) ** 2 <= radius**2
        canopy[r0:r1, c0:c1] |= disk
    canopy_colour = np.array(canopy_base, np.float32) * rng.uniform(0.8, 1.2, 3)
    leaf = 1 + 0.25 * _smooth_noise(rng, shape, 1.2)[..., None]
    # Trees cast shadows too, shorter than the buildings'.
    tree_shadow = _shifted(canopy, down // 2, across // 2) & ~canopy & ~buildings
    img[tree_shadow] *= (1 + style.shadow_darkness) / 2
    img[canopy] = (canopy_colour * leaf[canopy]).astype(np.float32)

    # Scene-wide illumination, colour cast, soft focus and sensor noise.
    img *= rng.uniform(0.75, 1.25) * rng.uniform(0.9, 1.1, 3)
    img *= 1 + 0.15 * _smooth_noise(rng, shape, size / 4)[..., None]
    img = ndimage.gaussian_filter(img, sigma=(0.7, 0.7, 0))
    img += rng.normal(0, 4, img.shape).astype(np.float32)
    image = np.clip(img, 0, 255).astype(np.uint8).transpose(2, 0, 1)

    edge = surface & ~ndimage.binary_erosion(surface, iterations=2, border_value=1)
    centerline = ndimage.binary_dilation(centre_all, iterations=1) & surface
    return SyntheticScene(
        image=np.ascontiguousarray(image),
        surface=surface.astype(np.uint8),
        edge=edge.astype(np.uint8),
        centerline=centerline.astype(np.uint8),
        style=style,
    )


def default_split(
    names: list[str], val_scenes: int | None = None, test_scenes: int | None = None
) -> dict[str, list[str]]:
    """Split scene names into train, val and test, in this order.

    Args:
        names: the scenes.
        val_scenes: scenes in val; None: ~15 % (at least one).
        test_scenes: scenes in test; None: ~15 % (at least one).

    Returns:
        The three lists (all train when there are fewer than 3 scenes).
    """
    n = len(names)
    if n < 3:
        return {"train": names, "val": [], "test": []}
    share = max(1, round(0.15 * n))
    n_val = share if val_scenes is None else val_scenes
    n_test = share if test_scenes is None else test_scenes
    return {
        "train": names[: n - n_val - n_test],
        "val": names[n - n_val - n_test : n - n_test],
        "test": names[n - n_test :],
    }


def write_synthetic_dataset(
    out: str | Path,
    scenes: int = 6,
    size: int = 1024,
    seed: int = 0,
    val_scenes: int | None = None,
    test_scenes: int | None = None,
    styles: bool = True,
    road_share: tuple[float, float] = ROAD_SHARE,
) -> Path:
    """Generate a dataset of synthetic scenes in roadkd's on-disk layout.

    Scenes are laid side by side, 100 m apart, so they never overlap. The folder is built
    beside ``out`` and renamed into place, so a failed run leaves nothing half-written.

    Args:
        out: dataset folder to create (must not exist or be empty).
        scenes: number of scenes.
        size: side length of each scene in pixels.
        seed: base seed; the same seed gives the same bytes.
        val_scenes: scenes in the validation split; None: about 15 %.
        test_scenes: scenes in the test split; None: about 15 %. The rest train.
        styles: draw each scene's :class:`SceneStyle` from its seed, with surface and
            season balanced within every split (:func:`balanced_looks`: validation and test
            hold the looks in the training split's mix); False gives every scene the
            default style (a green asphalt suburb).
        road_share: range of each scene's road surface share (:func:`generate_scene`).

    Returns:
        The dataset folder.

    Raises:
        RoadkdError: for impossible arguments or an existing non-empty output folder.
    """
    target = Path(out)
    if scenes < 1:
        raise RoadkdError("--scenes must be at least 1")
    if size < 128:
        raise RoadkdError("--size must be at least 128 pixels")
    if not 0 <= road_share[0] <= road_share[1] <= 1:
        raise RoadkdError(f"road_share must be a range within [0, 1], got {road_share}")
    held_out = [n for n in (val_scenes, test_scenes) if n is not None]
    if any(n < 1 for n in held_out) or sum(held_out) >= scenes:
        raise RoadkdError("validation and test scenes must be at least 1 and leave training scenes")
    with staged_dataset(target) as staging:
        names = [f"scene_{i:03d}" for i in range(scenes)]
        splits = default_split(names, val_scenes, test_scenes)
        looks = _balanced_looks(splits, seed) if styles else {}
        res = ROADNET_RESOLUTION_M
        spacing = size * res + 100.0
        drawn: dict[str, dict[str, Any]] = {}
        for i, name in enumerate(names):
            rng = np.random.default_rng([seed, i])
            style = SceneStyle.draw(rng) if styles else SceneStyle()
            if name in looks:
                surface, season = looks[name]
                style = replace(style, surface=surface, season=season)
            scene = generate_scene(size, rng, style, road_share)
            drawn[name] = {
                "surface": style.surface,
                "season": style.season,
                "density": style.density,
                "road_share": round(float(scene.surface.mean()), 4),
            }
            transform = Affine(
                res, 0, SYNTHETIC_ORIGIN[0] + i * spacing, 0, -res, SYNTHETIC_ORIGIN[1]
            )
            masks = {"surface": scene.surface, "edge": scene.edge, "centerline": scene.centerline}
            write_scene(staging, name, scene.image, masks, transform, SYNTHETIC_CRS)
        write_splits(
            staging,
            splits,
            crs=SYNTHETIC_CRS,
            resolution_m=res,
            source="synthetic",
            seed=seed,
            note="synthetic RoadNet-style scenes generated by roadkd",
            scenes=drawn,
            generator=synthetic_settings(
                scenes=scenes,
                size=size,
                seed=seed,
                val_scenes=val_scenes,
                test_scenes=test_scenes,
                styles=styles,
                road_share=road_share,
            ),
        )
    return target


def _balanced_looks(splits: dict[str, list[str]], seed: int) -> dict[str, tuple[str, str]]:
    """Each scene's (surface, season), balanced within every split (:func:`balanced_looks`)."""
    looks: dict[str, tuple[str, str]] = {}
    for index, split in enumerate(("train", "val", "test")):
        rng = np.random.default_rng([seed, SPLIT_LOOKS_STREAM, index])
        looks |= dict(zip(splits[split], balanced_looks(len(splits[split]), rng), strict=True))
    return looks


def synthetic_settings(**settings: Any) -> dict[str, Any]:
    """Every argument of :func:`write_synthetic_dataset` but ``out``, defaults filled in.

    ``splits.json`` records them under ``"generator"``, so that an experiment can tell
    whether an existing folder holds the data it asks for.

    Raises:
        RoadkdError: for an argument :func:`write_synthetic_dataset` does not take.
    """
    try:
        bound = inspect.signature(write_synthetic_dataset).bind_partial(**settings)
    except TypeError as err:
        raise RoadkdError(f"synthetic data settings {settings}: {err}") from err
    bound.apply_defaults()
    # as JSON holds them: a range is a list, whether it came from YAML or a default
    return {
        k: list(v) if isinstance(v, tuple) else v for k, v in bound.arguments.items() if k != "out"
    }
