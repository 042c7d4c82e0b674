"""roadkd vectorize as a library call: outputs checked, written with confidence."""

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy import ndimage
from skimage.draw import line

from roadkd.errors import RoadkdError
from roadkd.pipeline import run_vectorize

RES = 0.5


TRANSFORM = Affine(RES, 0, 445000.0, 0, -RES, 5030000.0)


CRS = "EPSG:32618"


def roads(size: int = 300) -> np.ndarray:
    """Two roads 10 px wide across a square scene."""
    centre = np.zeros((size, size), bool)
    for start, end in [((20, 0), (size - 20, size - 1)), ((size // 2, 0), (size // 2, size - 1))]:
        centre[line(*start, *end)] = True
    return (ndimage.distance_transform_edt(~centre) <= 5).astype(np.float32)


def test_run_vectorize_writes_checked_outputs_with_confidence(tmp_path: Path) -> None:
    raster = tmp_path / "prob.tif"
    profile = {"driver": "GTiff", "width": 300, "height": 300, "count": 1, "dtype": "float32"}
    with rasterio.open(raster, "w", crs=CRS, transform=TRANSFORM, **profile) as dst:
        dst.write(roads()[None])
    out = tmp_path / "roads.gpkg"
    vectors = run_vectorize([raster], out, tmp_path / "surface.geojson", block=128, workers=1)
    assert vectors.work is not None and vectors.work.blocks == 9
    lines = gpd.read_file(out, layer="centerlines")
    assert len(lines) == 5 and lines["confidence"].between(0.99, 1).all()
    assert (tmp_path / "surface.geojson").exists()
    with pytest.raises(RoadkdError, match="not an output format"):
        run_vectorize([raster], tmp_path / "roads.txt")
    assert not (tmp_path / "roads.txt").exists()
