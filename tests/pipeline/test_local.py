"""roadkd predict's local producer: a scene's rows, or a mosaic's scenes, into the vectoriser."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from stand_ins import RoadBand, drawn, write_tiles

from roadkd.datasets.layout import write_geotiff
from roadkd.inference.predict import Tiling, check_scene
from roadkd.pipeline.local import predict_scenes
from roadkd.vectorize import vectorize_array

RES = 0.5
TRANSFORM = Affine(RES, 0, 445000.0, 0, -RES, 5030000.0)
CRS = "EPSG:32618"


def test_predict_vectorises_bands_in_workers_while_inference_goes_on(tmp_path: Path) -> None:
    prob = drawn(320, [((30, 0), (290, 319)), ((160, 0), (160, 319))], 10)
    scene = tmp_path / "scene.tif"
    pixels = np.stack([prob * 255, np.zeros_like(prob), np.zeros_like(prob)]).astype(np.uint8)
    write_geotiff(scene, pixels, TRANSFORM, CRS)
    whole = vectorize_array(prob, TRANSFORM, CRS)
    plan = check_scene(scene, RoadBand())
    [summary], vectors = predict_scenes(
        [scene], RoadBand(), [tmp_path / "prob.tif"], Tiling(64, 16, 4), None, 128, 2,
        read_plans=[plan],
    )  # fmt: skip
    assert (summary.width, summary.height) == (320, 320)
    assert vectors.work is not None and (vectors.work.blocks, vectors.work.workers) == (9, 2)
    assert len(vectors.centerlines) == len(whole.centerlines) == 5
    assert vectors.centerlines["length_m"].sum() == pytest.approx(
        whole.centerlines["length_m"].sum(), rel=0.005
    )
    with rasterio.open(tmp_path / "prob.tif") as src:
        np.testing.assert_allclose(src.read(1), prob, atol=1e-6)


def test_predict_joins_roads_across_adjacent_scenes(tmp_path: Path) -> None:
    prob = drawn(256, [((20, 0), (236, 255)), ((128, 0), (128, 255))], 10)
    whole = vectorize_array(prob, TRANSFORM, CRS)
    scenes = []
    for k, tile in enumerate(write_tiles(tmp_path, prob, 128, TRANSFORM, CRS)):
        with rasterio.open(tile) as src:
            band = src.read(1)
            transform = src.transform
        scene = tmp_path / f"scene_{k}.tif"
        pixels = np.stack([band * 255, np.zeros_like(band), np.zeros_like(band)])
        write_geotiff(scene, pixels.astype(np.uint8), transform, CRS)
        scenes.append(scene)
    probs = [tmp_path / f"p{k}.tif" for k in range(len(scenes))]
    plans = [check_scene(scene, RoadBand()) for scene in scenes]
    summaries, vectors = predict_scenes(
        scenes, RoadBand(), probs, Tiling(64, 16, 4), None, 100, 1, read_plans=plans,
        vrt=tmp_path / "p.vrt",
    )  # fmt: skip
    assert len(summaries) == 4 and (tmp_path / "p.vrt").exists()
    assert len(vectors.centerlines) == len(whole.centerlines) == 5
    assert vectors.centerlines["length_m"].sum() == pytest.approx(
        whole.centerlines["length_m"].sum(), rel=0.005
    )
