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
from ..metrics.pixel import scores_from_counts
from .config import METHODS, Experiment, ratio_label

#: The scores of every run: the road class's (what road papers report), the authors'
#: two-class scores, and APLS on the vectorised centrelines.
SCORES = [
    "road_iou",
    "f1",
    "precision",
    "recall",
    "miou",
    "accuracy",
    "class_precision",
    "class_recall",
    "macro_f1",
    "apls",
]
#: What a run's model is and costs.
MODEL_COLUMNS = ["model", "params_m", "cpu_mp_per_s", "train_min"]
#: One row per (method, ratio, seed) in ``runs.csv``.
RUN_COLUMNS = ["method", "ratio", "seed", "labeled_share", *SCORES, *MODEL_COLUMNS]
#: One row per (method, ratio) in ``table.csv``: means over seeds, and the road IoU's
#: sample standard deviation (empty with a single seed).
COLUMNS = [
    "method",
    "ratio",
    "n_seeds",
    "labeled_share",
    "road_iou_mean",
    "road_iou_std",
    *(f"{score}_mean" for score in SCORES[1:]),
    *MODEL_COLUMNS,
]
#: One row per compared (method, ratio) in ``differences.csv``: the difference of the mean
#: road IoU, judged against the unpaired spread and against the spread of the differences
#: paired by seed, with the sign at each shared seed.
DIFFERENCE_COLUMNS = [
    "method",
    "ratio",
    "against",
    "difference",
    "se",
    "beyond_spread",
    "n_pairs",
    "paired_difference",
    "paired_se",
    "beyond_paired_spread",
    "signs",
]
#: The premise of SSLKD at each (ratio, seed): are the teachers stronger than any
#: student-sized model, and are their pseudo labels worth learning from?
PREMISE_COLUMNS = [
    "ratio",
    "seed",
    "teacher_a",
    "labels_only_teacher_a",
    "best_student_ssl",
    "best_student_ssl_iou",
    "margin",
    "road_precision",
    "road_recall",
]
#: Student-sized semi-supervised baselines the teachers must beat.
STUDENT_SSL = ("mean_teacher", "cps")
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


def mean_known(values: list[float]) -> float:
    """Mean of the values that are known (not NaN); NaN if none is."""
    known = [v for v in values if not math.isnan(v)]
    return float(np.mean(known)) if known else math.nan


def trivial_rows(road: int, background: int) -> list[dict[str, Any]]:
    """The scores of the trivial maps (every pixel road, every pixel background).

    Every table carries them: a model below "all road" has learnt less than the road
    share of the scenes.

    Args:
        road: road pixels of the scored split.
        background: labelled background pixels of the scored split.

    Returns:
        One ``table.csv``-shaped row per map (no ratio: :func:`write_table` adds it).
    """
    rows = []
    for method, counts in (
        ("all_road", (road, background, 0, 0)),
        ("all_background", (0, 0, road, background)),
    ):
        scores = scores_from_counts(*counts)
        scores["apls"] = 0.0  # a map with no road line, or one blob, has no path to match
        rows.append(
            {
                "method": method,
                "n_seeds": 1,
                "labeled_share": math.nan,
                "road_iou_mean": scores["road_iou"],
                "road_iou_std": math.nan,
                **{f"{score}_mean": scores[score] for score in SCORES[1:]},
                **dict.fromkeys(MODEL_COLUMNS, math.nan),
                "model": "-",
            }
        )
    return rows


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
                **{f"{score}_mean": mean(score) for score in SCORES[1:]},
                "model": runs[0]["model"],
                "params_m": runs[0]["params_m"],
                "cpu_mp_per_s": runs[0]["cpu_mp_per_s"],
                "train_min": round(mean_known([float(r["train_min"]) for r in runs]), 1),
            }
        )
    return summary


def differences(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Road IoU of each method against the one it is compared with, at the same ratio.

    Each method is compared with ``METHODS[method].compared_with`` (the supervised student;
    an ablation with SSLKD; SSLKD's teachers with the labels-only ones). Methods share
    seeds and labelled scenes, so besides the unpaired standard error of the difference of
    the means (sqrt(s1^2/n1 + s2^2/n2)) the differences are paired by seed: their mean,
    its standard error (the differences' sample std / sqrt(pairs)) and the sign at each
    seed.

    Args:
        rows: one dict per (method, ratio, seed), as in ``runs.csv``.

    Returns:
        One dict per (method, ratio) whose reference ran at that ratio (keys of
        :data:`DIFFERENCE_COLUMNS`); a standard error is NaN, and its verdict None, with
        fewer than two seeds or pairs.
    """
    by_run = {(r["method"], r["ratio"], r["seed"]): float(r["road_iou"]) for r in rows}
    summary = {(r["method"], r["ratio"]): r for r in summarise(rows)}
    compared = []
    for (method, ratio), row in summary.items():
        against = METHODS[method].compared_with
        reference = summary.get((against, ratio))
        if reference is None or method == against:
            continue
        difference = row["road_iou_mean"] - reference["road_iou_mean"]
        se = math.sqrt(
            row["road_iou_std"] ** 2 / row["n_seeds"]
            + reference["road_iou_std"] ** 2 / reference["n_seeds"]
        )
        seeds = sorted(s for m, r, s in by_run if (m, r) == (method, ratio))
        pairs = [
            by_run[method, ratio, s] - by_run[against, ratio, s]
            for s in seeds
            if (against, ratio, s) in by_run
        ]
        paired = float(np.mean(pairs)) if pairs else math.nan
        paired_se = (
            float(np.std(pairs, ddof=1) / math.sqrt(len(pairs))) if len(pairs) > 1 else math.nan
        )
        compared.append(
            {
                "method": method,
                "ratio": ratio,
                "against": against,
                "difference": difference,
                "se": se,
                "beyond_spread": None if math.isnan(se) else abs(difference) > 2 * se,
                "n_pairs": len(pairs),
                "paired_difference": paired,
                "paired_se": paired_se,
                "beyond_paired_spread": (
                    None if math.isnan(paired_se) else abs(paired) > 2 * paired_se
                ),
                "signs": " ".join("+" if d > 0 else "-" if d < 0 else "0" for d in pairs),
            }
        )
    return compared


def premise(rows: list[dict[str, Any]], pseudo: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SSLKD's premise at every (ratio, seed) where its teachers ran.

    Teacher A's road IoU against the labels-only teacher A and the best student-sized
    semi-supervised baseline (:data:`STUDENT_SSL`) of the same seed, and the road precision
    and recall of the pseudo labels the SSLKD student learns from (its rule, on the
    unlabelled training blocks).

    Args:
        rows: one dict per (method, ratio, seed), as in ``runs.csv``.
        pseudo: the pseudo-label rows (keys of :data:`PSEUDO_COLUMNS`).

    Returns:
        One dict per (ratio, seed) with the keys of :data:`PREMISE_COLUMNS` (NaN where a
        run is missing).
    """
    iou = {(r["method"], r["ratio"], r["seed"]): float(r["road_iou"]) for r in rows}
    used = {
        (p["ratio"], p["seed"]): p
        for p in pseudo
        if p["where"] == "unlabelled train" and str(p["rule"]).endswith("(SSLKD)")
    }
    out = []
    for method, ratio, seed in iou:
        if method != "teachers":
            continue
        baselines = [(iou[m, ratio, seed], m) for m in STUDENT_SSL if (m, ratio, seed) in iou]
        best_iou, best = max(baselines) if baselines else (math.nan, "")
        labels = used.get((ratio, seed), {})
        out.append(
            {
                "ratio": ratio,
                "seed": seed,
                "teacher_a": iou[method, ratio, seed],
                "labels_only_teacher_a": iou.get(("teachers_labeled_only", ratio, seed), math.nan),
                "best_student_ssl": best,
                "best_student_ssl_iou": best_iou,
                "margin": iou[method, ratio, seed] - best_iou,
                "road_precision": labels.get("road_precision", math.nan),
                "road_recall": labels.get("road_recall", math.nan),
            }
        )
    return sorted(out, key=lambda r: (r["ratio"], r["seed"]))


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
        "",
        *_markdown([[cell(row, c) for c in COLUMNS] for row in summary], COLUMNS),
    ]
    compared = differences(rows)
    if compared:
        _write_csv(out / "differences.csv", compared, DIFFERENCE_COLUMNS)
        verdicts = {True: "yes", False: "no", None: "-"}

        def number(value: float, sign: str = "") -> str:
            return "-" if math.isnan(value) else f"{value:{sign}.3f}"

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
                        number(c["difference"], "+"),
                        number(c["se"]),
                        verdicts[c["beyond_spread"]],
                        str(c["n_pairs"]),
                        number(c["paired_difference"], "+"),
                        number(c["paired_se"]),
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
                        *(number(c[k]) for k in PREMISE_COLUMNS[2:4]),
                        str(METHODS[c["best_student_ssl"]].label) if c["best_student_ssl"] else "-",
                        number(c["best_student_ssl_iou"]),
                        number(c["margin"], "+"),
                        number(c["road_precision"]),
                        number(c["road_recall"]),
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
