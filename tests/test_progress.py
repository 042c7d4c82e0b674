"""Progress reporters (roadkd.progress): tqdm bars by default, JSON lines for programs."""

import io
import json

import pytest
from tqdm import tqdm

from roadkd.progress import (
    JSON_STEPS,
    JsonLinesReporter,
    TqdmReporter,
    progress_bar,
    progress_stage,
    reporter_for,
    reporting,
)


def _events(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_bar_writes_each_thousandth_once_and_its_end() -> None:
    stream = io.StringIO()
    total = 5 * JSON_STEPS
    with reporting(JsonLinesReporter(stream)), progress_bar("predict", total, "tile") as bar:
        for _ in range(total):
            bar.update()
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


def test_a_json_bar_on_few_units_writes_every_one_and_an_early_end() -> None:
    stream = io.StringIO()
    reporter = JsonLinesReporter(stream)
    with reporting(reporter):
        with progress_bar("from-vectors", 3, "block") as bar:
            bar.update(2)
            bar.update()
        with progress_bar("train", 10, "step") as bar:  # stopped early: its count at the end
            bar.update(4)
        progress_stage("write")
    assert [(e["stage"], e.get("done")) for e in _events(stream)] == [
        ("from-vectors", 0),
        ("from-vectors", 2),
        ("from-vectors", 3),
        ("train", 0),
        ("train", 4),
        ("write", None),
    ]
    assert _events(stream)[-1] == {"event": "stage", "stage": "write"}


def test_nothing_is_reported_unless_asked_and_the_reporter_comes_back() -> None:
    stream = io.StringIO()
    with reporting(JsonLinesReporter(stream)):
        with progress_bar("predict", 4, "tile", show=False) as bar:
            bar.update(4)
        progress_stage("stitch", show=False)
        with reporting(TqdmReporter()):
            progress_stage("confidence")  # a tqdm reporter shows no stage line
    assert stream.getvalue() == ""
    # outside every ``reporting`` block, the default: tqdm bars
    with reporting(reporter_for("json")) as inside:
        assert isinstance(inside, JsonLinesReporter)
    with progress_bar("predict", 1, "tile") as bar:
        assert isinstance(bar, tqdm)
    assert isinstance(reporter_for("bar"), TqdmReporter)
    with pytest.raises(ValueError, match="bar, json"):
        reporter_for("xml")
