"""The experiment's report: table (Markdown + CSV), pseudo-label table and provenance."""

import csv
import json
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..io import atomic_output
from .config import METHODS, Experiment, ratio_label

COLUMNS = [
    "method",
    "ratio",
    "road_iou",
    "f1",
    "precision",
    "recall",
    "miou",
    "apls",
    "model",
    "params_m",
    "cpu_mp_per_s",
    "train_min",
]
SCORES = COLUMNS[2:8]
PSEUDO_COLUMNS = [
    "ratio",
    "threshold",
    "coverage",
    "accuracy",
    "road_recall",
    "false_road",
    "agreement",
    "iou_a",
    "iou_b",
    "iou_fused",
]


def provenance(experiment: Experiment) -> dict[str, str]:
    """What made a set of results: command, code version, date and machine."""
    repo = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
        except OSError:
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if commit and git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    return {
        "benchmark": experiment.name,
        "command": experiment.command,
        "commit": commit or f"roadkd {__version__}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} CPU threads, "
        + (torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"),
        "torch": torch.__version__,
    }


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    with atomic_output(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _markdown(rows: list[list[str]], columns: list[str]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def write_table(
    rows: list[dict[str, Any]],
    out: Path,
    about: dict[str, str],
    pseudo: list[dict[str, float]] | None = None,
) -> None:
    """Write ``table.csv`` (raw values) and ``table.md`` (rounded, with provenance).

    Args:
        rows: one dict per (method, ratio) with every key of :data:`COLUMNS`.
        out: results folder (created if missing).
        about: provenance, from :func:`provenance`.
        pseudo: the SSLKD teachers' pseudo-label quality per ratio (keys of
            :data:`PSEUDO_COLUMNS`), written to ``pseudo_labels.csv`` and under the table.
    """
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "table.csv", rows, COLUMNS)
    with atomic_output(out / "provenance.json") as tmp:
        tmp.write_text(json.dumps(about, indent=2) + "\n")

    def cell(row: dict[str, Any], column: str) -> str:
        value = row[column]
        if column == "method":
            return str(METHODS[value].label)
        if column == "ratio":
            return ratio_label(value)
        if column in SCORES:
            return f"{value:.3f}"
        return value if isinstance(value, str) else f"{value:g}"

    lines = [
        f"Benchmark {about['benchmark']}, made by `{about['command']}` at commit "
        f"{about['commit']} on {about['date']} ({about['machine']}, torch {about['torch']}).",
        "Test split; pixel scores at p >= 0.5.",
        "",
        *_markdown([[cell(row, c) for c in COLUMNS] for row in rows], COLUMNS),
    ]
    if pseudo:
        _write_csv(out / "pseudo_labels.csv", pseudo, PSEUDO_COLUMNS)
        lines += [
            "",
            "Pseudo labels of the SSLKD teachers on the test split, at the student's threshold:",
            "share of pixels confident enough (coverage), right among those (accuracy), true",
            "road given a confident road label (road_recall), confident road labels that are",
            "not road (false_road), teachers agreeing, and road IoU of teacher A, B and both.",
            "",
            *_markdown(
                [
                    [ratio_label(p["ratio"]), *(f"{p[c]:.3f}" for c in PSEUDO_COLUMNS[1:])]
                    for p in pseudo
                ],
                PSEUDO_COLUMNS,
            ),
        ]
    with atomic_output(out / "table.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
