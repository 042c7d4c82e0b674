"""The experiment's report: tables (Markdown + CSV), pseudo-label table and provenance."""

import csv
import json
import math
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..io import atomic_output
from .config import METHODS, Experiment, ratio_label
from .statistics import (
    COLUMNS,
    DIFFERENCE_COLUMNS,
    PREMISE_COLUMNS,
    RUN_COLUMNS,
    differences,
    premise,
    summarise,
)

#: What each fusion rule's pseudo labels teach (:class:`roadkd.diagnostics.RuleQuality`).
PSEUDO_RULE_SCORES = ["coverage", "accuracy", "road_precision", "road_recall", "net_teaching"]
#: One row per (ratio, seed, where, fusion rule) in ``pseudo_labels.csv``.
PSEUDO_COLUMNS = [
    "ratio",
    "seed",
    "where",
    "rule",
    *PSEUDO_RULE_SCORES,
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
        "machine": f"{platform.machine()}, {experiment.threads} CPU thread(s) per training, "
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


def _number(value: float, sign: str = "") -> str:
    """A score to three decimals (``sign="+"`` for differences), or "-" when missing."""
    return "-" if math.isnan(value) else f"{value:{sign}.3f}"


def write_table(
    rows: list[dict[str, Any]],
    out: Path,
    about: dict[str, str],
    pseudo: list[dict[str, Any]] | None = None,
    trivial: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Write ``runs.csv`` (every seed), ``table.csv`` and ``table.md`` (over seeds).

    Rows are grouped by ratio; the trivial maps (all road, all background) head every
    ratio's group, so a method is read against them.

    Args:
        rows: one dict per (method, ratio, seed) with every key of :data:`RUN_COLUMNS`.
        out: results folder (created if missing).
        about: provenance, from :func:`provenance`.
        pseudo: the SSLKD teachers' pseudo-label quality per ratio, seed, place and rule (keys of
            :data:`PSEUDO_COLUMNS`), written to ``pseudo_labels.csv`` and under the table.
        trivial: the trivial maps' scores (:func:`trivial_rows`), one row per map.

    Returns:
        The rows of ``table.csv``: :func:`summarise`'s, with the trivial maps at each ratio.
    """
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(rows)
    ratios = sorted({row["ratio"] for row in summary})
    summary = [
        row
        for ratio in ratios
        for row in [
            *({**t, "ratio": ratio} for t in trivial or []),
            *(r for r in summary if r["ratio"] == ratio),
        ]
    ]
    _write_csv(out / "runs.csv", rows, RUN_COLUMNS)
    _write_csv(out / "table.csv", summary, COLUMNS)
    with atomic_output(out / "provenance.json") as tmp:
        tmp.write_text(json.dumps(about, indent=2) + "\n")

    def cell(row: dict[str, Any], column: str) -> str:
        value = row[column]
        if column == "method":
            return str(METHODS[value].label)
        if column == "ratio":
            return ratio_label(value)
        if isinstance(value, float) and math.isnan(value):
            return "-"
        if column == "labeled_share":
            return f"{value:.1%}"
        if column.endswith(("_mean", "_std")):
            return f"{value:.3f}"
        return value if isinstance(value, str) else f"{value:g}"

    lines = [
        f"Benchmark {about['benchmark']}, made by `{about['command']}` at commit "
        f"{about['commit']} on {about['date']} ({about['machine']}, torch {about['torch']}).",
        "Test split; pixel scores at p >= 0.5; mean over n_seeds seeds, road_iou_std their "
        "sample standard deviation (every seed's row: runs.csv); labeled_share is the "
        "realised labelled share of the training area. accuracy, class_precision, "
        "class_recall and macro_f1 are the authors' two-class scores (averaged over road "
        "and background); the trivial maps need no training.",
        *(
            [f"Not finished yet, so not in this report: {about['unfinished']}."]
            if "unfinished" in about
            else []
        ),
        "",
        *_markdown([[cell(row, c) for c in COLUMNS] for row in summary], COLUMNS),
    ]
    compared = differences(rows)
    if compared:
        _write_csv(out / "differences.csv", compared, DIFFERENCE_COLUMNS)
        verdicts = {True: "yes", False: "no", None: "-"}

        lines += [
            "",
            "Road IoU against the supervised student (each ablation against SSLKD, SSLKD's",
            "teachers against the labels-only ones) at the same ratio: difference of the",
            "means with its unpaired standard error (sqrt(s1^2/n1 + s2^2/n2)); then, as",
            "methods share seeds and labelled scenes, the differences paired by seed: their",
            "mean, standard error (std / sqrt(pairs)) and sign at each seed. A difference is",
            "beyond the spread when it is more than twice its standard error.",
            "",
            *_markdown(
                [
                    [
                        str(METHODS[c["method"]].label),
                        ratio_label(c["ratio"]),
                        str(METHODS[c["against"]].label),
                        _number(c["difference"], "+"),
                        _number(c["se"]),
                        verdicts[c["beyond_spread"]],
                        str(c["n_pairs"]),
                        _number(c["paired_difference"], "+"),
                        _number(c["paired_se"]),
                        verdicts[c["beyond_paired_spread"]],
                        c["signs"],
                    ]
                    for c in compared
                ],
                DIFFERENCE_COLUMNS,
            ),
        ]
    checked = premise(rows, pseudo or [])
    if checked:
        _write_csv(out / "premise.csv", checked, PREMISE_COLUMNS)
        lines += [
            "",
            "SSLKD's premise at each seed: test road IoU of the SSLKD teacher A, of the",
            "labels-only teacher A and of the best student-sized semi-supervised baseline",
            "(Mean Teacher or CPS) of the same seed, teacher A's margin over it, and the",
            "road precision and recall of the pseudo labels the SSLKD student learns from",
            "(its rule, on the unlabelled training blocks).",
            "",
            *_markdown(
                [
                    [
                        ratio_label(c["ratio"]),
                        f"{c['seed']:g}",
                        *(_number(c[k]) for k in PREMISE_COLUMNS[2:4]),
                        str(METHODS[c["best_student_ssl"]].label) if c["best_student_ssl"] else "-",
                        _number(c["best_student_ssl_iou"]),
                        _number(c["margin"], "+"),
                        _number(c["road_precision"]),
                        _number(c["road_recall"]),
                    ]
                    for c in checked
                ],
                PREMISE_COLUMNS,
            ),
        ]
    if pseudo:
        _write_csv(out / "pseudo_labels.csv", pseudo, PSEUDO_COLUMNS)
        lines += [
            "",
            "Pseudo labels of the SSLKD teachers (fused: mean of both teachers' probabilities)",
            "where the student learns from them (the unlabelled training blocks) and on the",
            "validation split, by fusion rule (every pixel weighted by the rule's weight):",
            "weight taught per pixel (coverage), taught right (accuracy), road labels that",
            "are road (road_precision), true road taught as road (road_recall), right minus",
            "wrong per pixel averaged over road and background (net_teaching), the teachers",
            "agreeing, and road IoU of teacher A, B and both at p >= 0.5.",
            "",
            *_markdown(
                [
                    [
                        ratio_label(p["ratio"]),
                        f"{p['seed']:g}",
                        str(p["where"]),
                        str(p["rule"]),
                        *(f"{p[c]:.3f}" for c in PSEUDO_COLUMNS[4:]),
                    ]
                    for p in pseudo
                ],
                PSEUDO_COLUMNS,
            ),
        ]
    with atomic_output(out / "table.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return summary
