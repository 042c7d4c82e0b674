"""A quick-look PNG: the scene, downsampled, with detected roads drawn over it."""

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from PIL import Image, ImageDraw
from rasterio.enums import Resampling

from ..imagery import ScenePlan, SceneReader
from ..io import atomic_output


def write_preview(
    scene: str | Path,
    centerlines: gpd.GeoDataFrame,
    out: str | Path,
    probability: str | Path | None = None,
    max_side: int = 1024,
    plan: ScenePlan | None = None,
) -> Path:
    """Write a PNG of the scene with road probability tinted and centrelines drawn.

    Args:
        scene: the input scene (first three bands shown as RGB).
        centerlines: centreline layer in the scene's CRS.
        out: PNG path.
        probability: optional probability raster to tint road pixels with.
        max_side: longest side of the picture in pixels.
        plan: how the scene was read for the model (:func:`roadkd.inference.check_scene`);
            the picture is then drawn on the model's grid (needed when the scene was
            reprojected, e.g. from degrees to UTM) with the model's bands and scaling.

    Returns:
        The PNG path.
    """
    if plan is None:
        with rasterio.open(scene) as src:
            scale = min(1.0, max_side / max(src.width, src.height))
            shape = (max(1, round(src.height * scale)), max(1, round(src.width * scale)))
            bands = [1, 2, 3] if src.count >= 3 else [1, 1, 1]
            rgb = src.read(bands, out_shape=(3, *shape), resampling=Resampling.average)
            inverse = ~src.transform
    else:  # the scene as the model saw it: its grid, bands and 0-255 scaling
        with SceneReader(scene, len(plan.bands), plan.resolution_m, plan=plan) as reader:
            rgb, scale = reader.read_overview(max_side)
            inverse = ~reader.transform
        rgb = rgb if rgb.shape[0] >= 3 else np.repeat(rgb[:1], 3, axis=0)
        shape = rgb.shape[1:]
    rgb = np.clip(rgb.astype(np.float32), 0, 255).transpose(1, 2, 0)
    if probability is not None:
        with rasterio.open(probability) as prob_src:
            prob = prob_src.read(1, out_shape=shape, resampling=Resampling.average)
        road = np.nan_to_num(prob, nan=0.0)[..., None]
        rgb = rgb * (1 - 0.5 * road) + np.array([255.0, 60.0, 0.0]) * 0.5 * road
    image = Image.fromarray(rgb.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for line in centerlines.geometry:
        if line is None or line.is_empty:
            continue
        parts = getattr(line, "geoms", [line])
        for part in parts:
            points = [(c * scale, r * scale) for c, r in (inverse @ xy for xy in part.coords)]
            draw.line(points, fill=(0, 255, 255), width=max(2, round(3 * scale + 1)))
    with atomic_output(out) as tmp:
        image.save(tmp, format="PNG")
    return Path(out)
