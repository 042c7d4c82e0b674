"""Predicting a scene block by block (as Dask workers do) equals predicting it whole."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.windows import Window
from scipy import ndimage
from skimage.draw import line

from roadkd.datasets.layout import write_geotiff
from roadkd.errors import RoadkdError
from roadkd.grid import Grid
from roadkd.imagery import SceneReader
from roadkd.inference import load_backend, predict_scene
from roadkd.inference.predict import PROBABILITY_PROFILE, BlockRowWriter
from roadkd.inference.tiling import blend_window, pad_to, tile_origins
from roadkd.inference.window import predict_region
from roadkd.io import OutputPlan
from roadkd.pipeline.outputs import block_file, check_block_folder
from roadkd.vectorize.engine import Network, Vectorizer
from roadkd.vectorize.executors import local_executor
from roadkd.vectorize.mosaic import vectorize_mosaic
from roadkd.vectorize.options import VectorizeOptions

TRANSFORM = Affine(0.21, 0, 445000.0, 0, -0.21, 5030000.0)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random pixels with a nodata corner, 150 x 140 (not a whole number of tiles)."""
    path = tmp_path_factory.mktemp("scene") / "scene.tif"
    pixels = np.random.default_rng(1).integers(1, 256, (3, 150, 140), dtype=np.uint8)
    pixels[:, :20, :30] = 0
    write_geotiff(path, pixels, TRANSFORM, "EPSG:32618")
    with rasterio.open(path, "r+") as dst:
        dst.nodata = 0
    return path


class TileMean:
    """A stand-in model whose every output depends on every pixel of its tile.

    Any difference in how a tile is read or padded changes the whole tile's output, which
    a small network's receptive field would hide.
    """

    in_channels, tile_size, resolution_m = 3, 64, 0.21
    mean, std, device, input_percentiles = (0.0,) * 3, (1.0,) * 3, torch.device("cpu"), None

    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        overall = batch.mean(dim=(1, 2, 3), keepdim=True)[:, 0]
        return (overall + batch[:, 0]) / 510


@pytest.mark.parametrize(
    ("model", "tile", "overlap"),
    [("network", 64, 16), ("network", 96, 32), ("tile mean", 64, 0), ("tile mean", 64, 16)],
)
def test_regions_equal_the_whole_scene(
    model_path: Path, scene: Path, tmp_path: Path, model: str, tile: int, overlap: int
) -> None:
    backend = load_backend(model_path, "cpu") if model == "network" else TileMean()
    whole = tmp_path / "whole.tif"
    predict_scene(scene, backend, whole, tile=tile, overlap=overlap, batch_size=3)  # type: ignore[arg-type]
    with rasterio.open(whole) as src:
        expected = src.read(1)
    assert np.isnan(expected[:20, :30]).all() and np.isfinite(expected[20:]).all()
    pieces = np.full_like(expected, -1.0)
    with SceneReader(scene, backend.in_channels, backend.resolution_m) as reader:
        # Blocks of 50 x 32, the last ones short. With 64 px tiles and no overlap the last
        # tile holds 12 columns of the scene and 52 reflected ones, which the block at
        # column 128 must read from columns left of its tiles, as the whole-scene pass does.
        for row in range(0, 150, 50):
            for col in range(0, 140, 32):
                rows, cols = min(50, 150 - row), min(32, 140 - col)
                region = (row, col, rows, cols)
                pieces[row : row + rows, col : col + cols] = predict_region(
                    reader,
                    backend,  # type: ignore[arg-type]
                    region,
                    tile,
                    overlap,
                    batch_size=2,
                )
    np.testing.assert_allclose(pieces, expected, atol=1e-6, equal_nan=True)


def whole_band_reference(scene: Path, backend: TileMean, tile: int, overlap: int) -> np.ndarray:
    """The tiled prediction computed the plain way: each band read whole, padded, blended."""
    with rasterio.open(scene) as src:
        pixels = src.read().astype(np.float32)
    _, height, width = pixels.shape
    stride = tile - overlap
    rows, cols = tile_origins(height, tile, stride), tile_origins(width, tile, stride)
    accumulated = np.zeros((rows[-1] + tile, cols[-1] + tile), np.float32)
    weights = np.zeros_like(accumulated)
    window = blend_window(tile)
    for y0 in rows:
        band = pad_to(pixels[:, y0 : y0 + tile], tile, cols[-1] + tile)
        for x0 in cols:
            tile_pixels = torch.from_numpy(band[None, :, :, x0 : x0 + tile].copy())
            prob = backend.predict(tile_pixels)[0].numpy()
            accumulated[y0 : y0 + tile, x0 : x0 + tile] += prob * window
            weights[y0 : y0 + tile, x0 : x0 + tile] += window
    return (accumulated / weights)[:height, :width]


@pytest.mark.parametrize(("width", "tile", "overlap"), [(660, 32, 8), (870, 32, 0), (1000, 64, 16)])
def test_a_few_tiles_at_a_time_equal_whole_bands(
    tmp_path: Path, width: int, tile: int, overlap: int
) -> None:
    """Bands are read a few tiles at a time, as if read whole.

    At widths 660 and 870 the last read is one tile holding 12 and 6 columns of the scene:
    its reflection past the right edge reaches columns left of it.
    """
    scene = tmp_path / "wide.tif"
    pixels = np.random.default_rng(2).integers(0, 256, (3, 70, width), dtype=np.uint8)
    write_geotiff(scene, pixels, TRANSFORM, "EPSG:32618")
    backend = TileMean()
    out = tmp_path / "prob.tif"
    predict_scene(scene, backend, out, tile=tile, overlap=overlap, batch_size=3)  # type: ignore[arg-type]
    with rasterio.open(out) as src:
        probability = src.read(1)
    expected = whole_band_reference(scene, backend, tile, overlap)
    np.testing.assert_allclose(probability, expected, atol=1e-6)


def test_rows_are_written_in_whole_rows_of_blocks(tmp_path: Path) -> None:
    values = np.random.default_rng(3).random((300, 100)).astype(np.float32)
    profile = {**PROBABILITY_PROFILE, "width": 100, "height": 300, "blockysize": 64}
    profile.update(blockxsize=64)
    written: list[tuple[int, int]] = []
    with rasterio.open(tmp_path / "p.tif", "w", **profile) as dst:
        write = dst.write

        def spy(array: np.ndarray, window: Window) -> None:
            written.append((window.row_off, window.height))
            write(array, window=window)

        dst.write = spy
        writer = BlockRowWriter(dst)
        for row in range(0, 300, 45):
            writer.write(row, values[row : row + 45])
        with pytest.raises(ValueError, match="in order"):
            writer.write(0, values[:45])
    # each write ends on a row of blocks (64 rows), the last one at the raster's end
    assert written == [(0, 64), (64, 64), (128, 64), (192, 64), (256, 44)]
    with rasterio.open(tmp_path / "p.tif") as src:
        np.testing.assert_array_equal(src.read(1), values)


def test_mosaic_blocks_are_vectorised_as_their_rasters_are_finished(tmp_path: Path) -> None:
    """Blocks over a finished scene go at once; the whole equals the mosaic's vectors."""
    rows, cols = 300, 600
    centre = np.zeros((rows, cols), bool)
    for start, end in [((20, 0), (280, 599)), ((150, 0), (150, 599))]:
        centre[line(*start, *end)] = True
    prob = (ndimage.distance_transform_edt(~centre) <= 5).astype(np.float32)
    transform = Affine(0.5, 0, 445000.0, 0, -0.5, 5030000.0)
    halves = []
    for k, col in enumerate((0, 300)):  # two scenes side by side
        path = tmp_path / f"half{k}.tif"
        profile = {"driver": "GTiff", "width": 300, "height": rows, "count": 1, "dtype": "float32"}
        with rasterio.open(
            path, "w", crs="EPSG:32618", transform=transform @ Affine.translation(col, 0), **profile
        ) as dst:
            dst.write(prob[None, :, col : col + 300])
        halves.append(path)
    expected = vectorize_mosaic(halves, block=100)
    grid = Grid.of(transform, "EPSG:32618", (rows, cols))
    places = [(0, 0, rows, 300), (0, 300, rows, 300)]
    network = Network.plan(grid, 100, VectorizeOptions(), places)
    with local_executor(2, len(network.blocks)) as pool, Vectorizer(network, pool) as mosaic:
        assert mosaic.waiting == 18
        mosaic.finished(0, halves[0])
        # the blocks whose windows (core and halo) lie in the first scene are sent
        assert mosaic.waiting == 12
        mosaic.finished(1, halves[1])
        assert mosaic.waiting == 0
        vectors = mosaic.finish()
    assert vectors.work is not None and vectors.work.blocks == 18
    assert list(vectors.centerlines["length_m"]) == list(expected.centerlines["length_m"])
    assert list(vectors.surface["area_m2"]) == list(expected.surface["area_m2"])


def test_a_folder_of_blocks_replaces_only_blocks(tmp_path: Path) -> None:
    folder = tmp_path / "scene_probability"
    folder.mkdir()
    (folder / block_file(0, 512)).write_bytes(b"")
    check_block_folder(folder)  # an earlier run's blocks may be replaced
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(RoadkdError, match=r"holds other files \(notes\.txt\)"):
        check_block_folder(folder)
    plan = OutputPlan()
    (folder / "notes.txt").unlink()
    target = plan.add(folder, "--prob", folder=True)
    with plan:
        staged = plan.stage(target)
        staged.mkdir()
        (staged / block_file(0, 0)).write_bytes(b"new")
    assert [p.name for p in folder.iterdir()] == [block_file(0, 0)]
    assert [p.name for p in tmp_path.iterdir()] == ["scene_probability"]
