"""Scenes grouped into road networks by their pixel grid."""

from pathlib import Path

import numpy as np
from affine import Affine
from stand_ins import RoadBand

from roadkd.datasets.layout import write_geotiff
from roadkd.grid import PixelWindow
from roadkd.inference.predict import check_scene
from roadkd.pipeline.networks import group_scenes

RES = 0.5


TRANSFORM = Affine(RES, 0, 445000.0, 0, -RES, 5030000.0)


CRS = "EPSG:32618"


def test_scenes_are_grouped_by_grid(tmp_path: Path) -> None:
    pixels = np.zeros((3, 32, 32), np.uint8)
    origins = [(0, 0), (16.25, 0), (16.0, 0)]  # the second is a quarter pixel off
    scenes = []
    for k, (x, y) in enumerate(origins):
        scenes.append(tmp_path / f"s{k}.tif")
        write_geotiff(scenes[-1], pixels, TRANSFORM @ Affine.translation(x / RES, y), CRS)
    plans = [check_scene(scene, RoadBand()) for scene in scenes]  # type: ignore[arg-type]
    probabilities = [tmp_path / f"p{k}.tif" for k in range(3)]
    networks = group_scenes(scenes, plans, probabilities)
    assert [n.indices for n in networks] == [(0, 2), (1,)]
    assert networks[0].probabilities == (probabilities[0], probabilities[2])
    assert networks[0].places == (PixelWindow(0, 0, 32, 32), PixelWindow(0, 32, 32, 32))
    assert networks[0].grid.shape == (32, 64) and networks[1].grid.shape == (32, 32)
