"""What the QGIS plugin does around roadkd, without QGIS: the bar, the HTML report, Cancel.

The plugin's progress, report and process modules import nothing from QGIS, so they run
here on the JSON lines and the JSON report that roadkd writes, and on stand-in processes.
"""

import io
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import pytest

from roadkd.progress import JsonLines, report_stage
from roadkd.qgis.roadkd_qgis.process import SCRATCH_PREFIX, Cancelled, remove_scratch_of, run
from roadkd.qgis.roadkd_qgis.progress import PREDICT_PLAN, Meter, parse
from roadkd.qgis.roadkd_qgis.report import html_report
from roadkd.staging import SCRATCH_PREFIX as roadkd_scratch_prefix


def _predict_lines(tiles: int) -> list[str]:
    """The progress lines ``roadkd predict --progress json`` writes for one scene."""
    stream = io.StringIO()
    report = JsonLines(stream)
    with report.counter("predict", tiles, "tile") as counter:
        for _ in range(0, tiles, 4):
            counter.update(min(4, tiles - counter.done))
    for stage in ("stitch", "confidence", "write"):
        report_stage(report, stage)
    return stream.getvalue().splitlines()


def test_the_bar_follows_the_tiles_and_only_grows() -> None:
    lines = ["scene.tif: bands 1,2,3", "{not json", '{"event": "other"}', *_predict_lines(49)]
    events = [parse(line) for line in lines]
    assert events[:3] == [None, None, None]  # logged as they are
    meter = Meter(PREDICT_PLAN)
    shown = [meter.update(event) for event in events if event is not None]
    shown.append(meter.finish())
    percents = [p for p, _ in shown if p is not None]
    assert all(a < b for a, b in itertools.pairwise(percents))
    assert percents[0] == 7 and percents[-1] == 100  # 4 of 49 tiles: 90 % x 4/49
    texts = [t for _, t in shown if t is not None]
    assert texts[0] == "Detecting roads: 0 of 49 tiles"  # a stage begins: text, no move
    assert "Detecting roads: 49 of 49 tiles (90 %)" in texts
    assert "Joining the blocks" in texts  # starts at 90 %: the text changes, not the bar
    assert texts[-1] == "Done (100 %)"


def test_a_second_command_fills_the_rest_of_the_bar() -> None:
    steps = [
        {"event": "progress", "stage": "train", "unit": "step", "done": d, "total": 4}
        for d in range(5)
    ]
    teachers = Meter([("train", 1)], 0, 60, {"train": "Training the teachers"})
    student = Meter([("train", 1)], 60, 100, {"train": "Training the student"})
    shown = [teachers.update(s) for s in steps] + [teachers.finish("Teachers trained")]
    shown += [student.update(s) for s in steps] + [student.finish()]
    assert [p for p, _ in shown if p is not None] == [15, 30, 45, 60, 70, 80, 90, 100]
    assert shown[4] == (60, "Training the teachers: 4 of 4 steps (60 %)")
    assert shown[5] == (None, None)  # already at 60 %
    # a stage outside the plan, an event without a total: text only
    assert student.update({"event": "progress", "stage": "x", "unit": "block", "done": 3}) == (
        None,
        "x: 3 blocks",
    )


REPORT = {
    "apls": 0.81234,
    "apls_gt_to_prop": 0.9,
    "apls_prop_to_gt": 0.74,
    "topo_precision": 1.0,
    "topo_recall": 0.5,
    "topo_f1": 0.6667,
    "length_precision": 1.0,
    "length_recall": 0.5,
    "length_f1": 0.6667,
    "truth_km": 0.2,
    "pred_km": 0.1,
    "missed_km": 0.1,
    "false_km": 0.0,
    "inputs": {"truth": "/data/truth.shp", "pred": "/data/roads.gpkg", "crs": "EPSG:32618"},
    "settings": {"buffer_m": 2.0, "crossings": "auto", "topo": {"radius_m": 150.0}},
}


def test_the_html_report_holds_scores_lengths_inputs_and_settings() -> None:
    page = html_report(json.loads(json.dumps(REPORT)), "town <roads>", "roads & more")
    assert "<title>roads &amp; more compared with town &lt;roads&gt;</title>" in page
    assert '<td>APLS</td><td class="value">0.812</td>' in page
    assert '<td>TOPO recall</td><td class="value">0.500</td>' in page
    row = '<td>Missed (truth with no detected road nearby)</td><td class="value">0.100</td>'
    assert row + '<td class="note">50% of the truth</td>' in page
    assert "<td>crs</td><td>EPSG:32618</td>" in page
    # every setting, nested ones by a dotted name, also those this plugin does not know
    assert "<td>crossings</td><td>auto</td>" in page
    assert "<td>topo.radius_m</td><td>150.0</td>" in page
    # a report without some score (an older roadkd) still makes a page
    partial = {k: v for k, v in REPORT.items() if not k.startswith("topo")}
    assert "TOPO" not in html_report(partial, "a", "b")


STUBBORN = """
import os, signal, subprocess, sys, tempfile, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a roadkd stuck where SIGTERM cannot stop it
os.mkdir(os.path.join(tempfile.gettempdir(), f"roadkd-pid{os.getpid()}-predict-x"))
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(os.getpid(), worker.pid, flush=True)
time.sleep(60)
"""


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (reaped, or a zombie waiting to be)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_a_killed_roadkd_takes_its_workers_and_leaves_no_scratch() -> None:
    started: list[str] = []
    with pytest.raises(Cancelled):
        run([sys.executable, "-c", STUBBORN], started.append, lambda: bool(started), grace=0.3)
    roadkd, worker = (int(pid) for pid in started[0].split())
    for _ in range(50):  # init reaps the orphan soon after the kill
        if _gone(worker):
            break
        time.sleep(0.1)
    assert _gone(worker)  # killed with the process group it shared with "roadkd"
    assert _gone(roadkd)
    assert not (Path(tempfile.gettempdir()) / f"{SCRATCH_PREFIX}{roadkd}-predict-x").exists()


def test_only_the_killed_process_scratch_is_removed(tmp_path: Path) -> None:
    names = ["roadkd-pid41-predict-a", "roadkd-pid41-evaluate-b", "roadkd-pid417-predict-c"]
    names += ["roadkd-pid42-predict-d", "roadkd-41-backup"]
    for name in names:
        (tmp_path / name).mkdir()
    assert sorted(remove_scratch_of(41, tmp_path)) == [
        "roadkd-pid41-evaluate-b",
        "roadkd-pid41-predict-a",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[2:])
    assert SCRATCH_PREFIX == roadkd_scratch_prefix  # the plugin names roadkd's folders as it does
