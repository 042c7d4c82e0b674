"""The experiment's report: table (Markdown + CSV), pseudo-label table and provenance."""

import csv
import json
import math
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..io import atomic_output
from .config import METHODS, Experiment, ratio_label

#: The score methods are ranked by: the table gives its spread over seeds too.
HEADLINE = "road_iou"
#: The other test scores every run reports, the table gives their means.
OTHER_SCORES = ["f1", "precision", "recall", "miou", "apls"]
#: Every test score of a run.
SCORES = [HEADLINE, *OTHER_SCORES]
#: One row per (method, ratio, seed) in ``runs.csv``.
RUN_COLUMNS = [
    "method",
    "ratio",
    "seed",
    "labeled_share",
    *SCORES,
    "model",
    "params_m",
    "cpu_mp_per_s",
    "train_min",
]
#: One row per (method, ratio) in ``table.csv``: means over seeds, and the road IoU's
#: sample standard deviation (empty with a single seed).
COLUMNS = [
    "method",
    "ratio",
    "n_seeds",
    "labeled_share",
    "road_iou_mean",
    "road_iou_std",
    *(f"{score}_mean" for score in OTHER_SCORES),
    "model",
    "params_m",
    "cpu_mp_per_s",
    "train_min",
]
#: One row per compared (method, ratio) in ``differences.csv``.
DIFFERENCE_COLUMNS = ["method", "ratio", "against", "difference", "se", "beyond_spread"]
PSEUDO_COLUMNS = [
    "ratio",
    "seed",
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


def mean_known(values: list[float]) -> float:
    """Mean of the values that are known (not NaN); NaN if none is."""
    known = [v for v in values if not math.isnan(v)]
    return float(np.mean(known)) if known else math.nan


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds, one row per (method, ratio).

    Args:
        rows: one dict per (method, ratio, seed) with every key of :data:`RUN_COLUMNS`.

    Returns:
        One dict per (method, ratio), in first-seen order, with every key of
        :data:`COLUMNS`; ``road_iou_std`` is the sample standard deviation (NaN for one
        seed) and ``train_min`` the mean training time of the seeds whose time is known.
    """
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["method"], row["ratio"]), []).append(row)
    summary = []
    for (method, ratio), runs in groups.items():

        def mean(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return float(np.mean([float(r[key]) for r in runs]))

        iou = [float(r["road_iou"]) for r in runs]
        summary.append(
            {
                "method": method,
                "ratio": ratio,
                "n_seeds": len(runs),
                "labeled_share": mean("labeled_share"),
                "road_iou_mean": mean("road_iou"),
                "road_iou_std": float(np.std(iou, ddof=1)) if len(iou) > 1 else math.nan,
                **{f"{score}_mean": mean(score) for score in OTHER_SCORES},
                "model": runs[0]["model"],
                "params_m": runs[0]["params_m"],
                "cpu_mp_per_s": runs[0]["cpu_mp_per_s"],
                "train_min": round(mean_known([float(r["train_min"]) for r in runs]), 1),
            }
        )
    return summary


def differences(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Road IoU of each method against the one it is compared with, at the same ratio.

    Each method is compared with ``METHODS[method].compared_with`` (the supervised student;
    an ablation with SSLKD), with the seeds' spread.

    Args:
        summary: the rows of ``table.csv``, from :func:`summarise`.

    Returns:
        One dict per (method, ratio) whose reference ran at that ratio (keys of
        :data:`DIFFERENCE_COLUMNS`): the difference of the mean road IoU, its standard
        error from the seeds (sqrt(s1^2/n1 + s2^2/n2), NaN with a single seed) and whether
        the difference is more than twice that (None when unknown).
    """
    by_key = {(row["method"], row["ratio"]): row for row in summary}
    compared = []
    for row in summary:
        against = METHODS[row["method"]].compared_with
        reference = by_key.get((against, row["ratio"]))
        if reference is None or row["method"] == against:
            continue
        difference = row["road_iou_mean"] - reference["road_iou_mean"]
        se = math.sqrt(
            row["road_iou_std"] ** 2 / row["n_seeds"]
            + reference["road_iou_std"] ** 2 / reference["n_seeds"]
        )
        compared.append(
            {
                "method": row["method"],
                "ratio": row["ratio"],
                "against": against,
                "difference": difference,
                "se": se,
                "beyond_spread": None if math.isnan(se) else abs(difference) > 2 * se,
            }
        )
    return compared


def write_table(
    rows: list[dict[str, Any]],
    out: Path,
    about: dict[str, str],
    pseudo: list[dict[str, float]] | None = None,
) -> list[dict[str, Any]]:
    """Write ``runs.csv`` (every seed), ``table.csv`` and ``table.md`` (over seeds).

    Args:
        rows: one dict per (method, ratio, seed) with every key of :data:`RUN_COLUMNS`.
        out: results folder (created if missing).
        about: provenance, from :func:`provenance`.
        pseudo: the SSLKD teachers' pseudo-label quality per ratio and seed (keys of
            :data:`PSEUDO_COLUMNS`), written to ``pseudo_labels.csv`` and under the table.

    Returns:
        The rows of ``table.csv``, from :func:`summarise`.
    """
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(rows)
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
        "realised labelled share of the training area.",
        "",
        *_markdown([[cell(row, c) for c in COLUMNS] for row in summary], COLUMNS),
    ]
    compared = differences(summary)
    if compared:
        _write_csv(out / "differences.csv", compared, DIFFERENCE_COLUMNS)
        verdicts = {True: "yes", False: "no", None: "-"}
        lines += [
            "",
            "Road IoU against the supervised student (each ablation against SSLKD) at the same",
            "ratio: difference of the means, its standard error from the seeds' spread",
            "(sqrt(s1^2/n1 + s2^2/n2)), and whether the difference is more than twice that.",
            "",
            *_markdown(
                [
                    [
                        str(METHODS[c["method"]].label),
                        ratio_label(c["ratio"]),
                        str(METHODS[c["against"]].label),
                        f"{c['difference']:+.3f}",
                        "-" if math.isnan(c["se"]) else f"{c['se']:.3f}",
                        verdicts[c["beyond_spread"]],
                    ]
                    for c in compared
                ],
                DIFFERENCE_COLUMNS,
            ),
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
                    [
                        ratio_label(p["ratio"]),
                        f"{p['seed']:g}",
                        *(f"{p[c]:.3f}" for c in PSEUDO_COLUMNS[2:]),
                    ]
                    for p in pseudo
                ],
                PSEUDO_COLUMNS,
            ),
        ]
    with atomic_output(out / "table.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return summary
