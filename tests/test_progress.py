"""Progress reports: any object with a ``counter`` method receives the engine's counts."""

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from roadkd.progress import (
    JSON_STEPS,
    SILENT,
    Bars,
    JsonLines,
    as_progress,
    progress_for,
    report_stage,
)
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


def _road_raster(path: Path, size: int) -> Path:
    """A 0.5 m probability raster of ``size`` px with one horizontal road across it."""
    prob = np.zeros((size, size), np.float32)
    prob[size // 2 - 5 : size // 2 + 5, :] = 1.0
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "float32"}
    transform = Affine(0.5, 0, 445000.0, 0, -0.5, 5030000.0)
    with rasterio.open(path, "w", crs="EPSG:32618", transform=transform, **profile) as dst:
        dst.write(prob[None])
    return path


def test_vectorize_counts_every_block_on_the_report(tmp_path: Path) -> None:
    path = _road_raster(tmp_path / "prob.tif", 200)
    recorder = Recorder()
    vectors = vectorize_raster(path, block=64, progress=recorder)
    assert vectors.work is not None
    assert recorder.stages == [("vectorize", vectors.work.blocks, "block")]
    assert recorder.done == {"vectorize": vectors.work.blocks} and vectors.work.blocks == 16


def test_quiet_is_progress_none_and_the_last_one_given_wins(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from roadkd_cli.main import cli

    path = _road_raster(tmp_path / "prob.tif", 64)
    json_ = ["--progress", "json"]
    shown = {}
    for n, given in enumerate((json_, [*json_, "--quiet"], ["--quiet", *json_])):
        out = tmp_path / f"roads{n}.geojson"
        result = CliRunner().invoke(cli, ["vectorize", str(path), "--out", str(out), *given])
        assert result.exit_code == 0, result.output
        shown[" ".join(given)] = [json.loads(x)["done"] for x in result.stderr.splitlines()]
    assert shown == {
        "--progress json": [0, 1],
        "--progress json --quiet": [],
        "--quiet --progress json": [0, 1],
    }


def _events(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_counter_writes_each_thousandth_once_and_its_end() -> None:
    stream = io.StringIO()
    total = 5 * JSON_STEPS
    with JsonLines(stream).counter("predict", total, "tile") as counter:
        for _ in range(total):
            counter.update()
    done = [e["done"] for e in _events(stream)]
    # the start, then one line a thousandth (every 5 tiles), the last one being the total
    assert done == list(range(0, total + 1, 5))
    assert _events(stream)[0] == {
        "event": "progress",
        "stage": "predict",
        "unit": "tile",
        "done": 0,
        "total": total,
    }


def test_json_lines_count_few_units_each_and_announce_uncounted_stages() -> None:
    stream = io.StringIO()
    report = JsonLines(stream)
    with report.counter("from-vectors", 3, "block") as counter:
        counter.update(2)
        counter.update()
    with report.counter("train", 10, "step") as counter:  # stopped early: its count at the end
        counter.update(4)
    report_stage(report, "write")
    report_stage(Bars(), "write")  # a bar has nothing to show for it
    report_stage(True, "write")
    assert [(e["stage"], e.get("done")) for e in _events(stream)] == [
        ("from-vectors", 0),
        ("from-vectors", 2),
        ("from-vectors", 3),
        ("train", 0),
        ("train", 4),
        ("write", None),
    ]
    assert _events(stream)[-1] == {"event": "stage", "stage": "write"}


def test_the_progress_option_chooses_the_report() -> None:
    assert isinstance(progress_for("json", terminal=False), JsonLines)
    assert progress_for("bar", terminal=True) == Bars(True)
    assert progress_for("bar", terminal=False) == SILENT  # no bar in a log file
    assert progress_for("none", terminal=True) == SILENT
    with pytest.raises(ValueError, match="bar, json, none"):
        progress_for("xml", terminal=True)
