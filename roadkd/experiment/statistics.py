"""The numbers of an experiment's tables: means over seeds, paired differences, the premise.

Every function takes the runs' rows (one per method, ratio and seed, as ``runs.csv`` holds
them) and returns rows of one of the tables that :mod:`.report` writes.
"""

import math
from typing import Any

import numpy as np

from ..metrics.pixel import scores_from_counts
from .config import METHODS

#: Marks the pseudo-label rule the SSLKD student learns from (``rule`` of the rows).
USED_MARK = " (SSLKD)"

#: The score methods are ranked by: the table gives its spread over seeds too.
HEADLINE = "road_iou"
#: The other test scores every run reports, the table gives their means: the road class's
#: (what road papers report), the authors' two-class scores, and APLS on the vectorised
#: centrelines.
OTHER_SCORES = [
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
#: Every test score of a run.
SCORES = [HEADLINE, *OTHER_SCORES]
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
    *(f"{score}_mean" for score in OTHER_SCORES),
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
                **{f"{score}_mean": scores[score] for score in OTHER_SCORES},
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
                **{f"{score}_mean": mean(score) for score in OTHER_SCORES},
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
        if p["where"] == "unlabelled train" and str(p["rule"]).endswith(USED_MARK)
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
