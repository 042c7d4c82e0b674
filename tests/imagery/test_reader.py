"""A scene reader shared between the thread that runs the model and the one that prefetches."""

import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from roadkd.imagery import SceneReader
from roadkd.imagery.reader import ReaderClosedError

SIZE = 1024


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    """A 1024 px, 0.21 m/px UTM scene; its 0.42 m/px reading is warped on every read."""
    path = tmp_path / "scene.tif"
    pixels = np.random.default_rng(0).integers(0, 256, (3, SIZE, SIZE), dtype=np.uint8)
    profile = {"driver": "GTiff", "width": SIZE, "height": SIZE, "count": 3, "dtype": "uint8"}
    transform = Affine(0.21, 0, 445000.0, 0, -0.21, 5030000.0)
    with rasterio.open(path, "w", crs="EPSG:32618", transform=transform, **profile) as dst:
        dst.write(pixels)
    return path


@pytest.mark.parametrize("resolution_m", [0.21, 0.42])
def test_closing_while_another_thread_reads_waits_for_the_read(
    scene: Path, resolution_m: float
) -> None:
    # Seen as a crash (SIGSEGV) when SIGTERM closed the scene under the prefetch thread.
    reader = SceneReader(scene, 3, resolution_m)
    window = Window(0, 0, reader.width, reader.height)
    reading, reads, ended = threading.Event(), [], []

    def keep_reading() -> None:
        try:
            while True:
                reading.set()
                reads.append(reader.read(window)[0].shape)
        except ReaderClosedError as error:
            ended.append(error)

    thread = threading.Thread(target=keep_reading)
    thread.start()
    reading.wait()
    reader.close()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert len(ended) == 1 and "read after the reader closed" in str(ended[0])
    assert all(shape == (3, reader.height, reader.width) for shape in reads)
    reader.close()  # closing twice is harmless
