"""Progress reports: any object with a ``counter`` method receives the engine's counts."""

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from roadkd.progress import SILENT, Bars, as_progress
from roadkd.vectorize import vectorize_raster


class Recorder:
    """A report that keeps (stage, total, unit) and the units done of every counter."""

    def __init__(self) -> None:
        self.stages: list[tuple[str, int | None, str]] = []
        self.done: dict[str, int] = {}

    @contextlib.contextmanager
    def counter(self, stage: str, total: int | None, unit: str) -> Iterator["Recorder"]:
        self.stages.append((stage, total, unit))
        self._stage = stage
        self.done.setdefault(stage, 0)
        yield self

    def update(self, n: int = 1) -> None:
        self.done[self._stage] += n


def test_bools_are_bars_and_a_report_is_used_as_it_is() -> None:
    assert as_progress(True) == Bars(True)
    assert as_progress(False) == SILENT
    recorder = Recorder()
    assert as_progress(recorder) is recorder


def test_vectorize_counts_every_block_on_the_report(tmp_path: Path) -> None:
    prob = np.zeros((200, 200), np.float32)
    prob[95:105, :] = 1.0
    path = tmp_path / "prob.tif"
    profile = {"driver": "GTiff", "width": 200, "height": 200, "count": 1, "dtype": "float32"}
    transform = Affine(0.5, 0, 445000.0, 0, -0.5, 5030000.0)
    with rasterio.open(path, "w", crs="EPSG:32618", transform=transform, **profile) as dst:
        dst.write(prob[None])
    recorder = Recorder()
    vectors = vectorize_raster(path, block=64, progress=recorder)
    assert vectors.work is not None
    assert recorder.stages == [("vectorize", vectors.work.blocks, "block")]
    assert recorder.done == {"vectorize": vectors.work.blocks} and vectors.work.blocks == 16
