"""Reproduce the paper's comparison: every method at every labelled ratio, one table.

The runner trains each method with its config in one folder (``configs/bench`` or
``configs/roadnet``: the same data, split, seed and budget for all), evaluates the best
checkpoint on the test split, and writes a table (Markdown + CSV), a plot of road IoU
against the labelled ratio and a qualitative figure. A finished run (one with a
``result.json``) is read back instead of repeated and an interrupted training continues
from its ``last.ckpt``, so an interrupted experiment resumes where it stopped.
"""

import csv
import json
import math
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from . import __version__
from .datasets.layout import image_path, mask_path, read_splits
from .datasets.synthetic import write_synthetic_dataset
from .diagnostics import pseudo_label_quality
from .errors import RoadkdError
from .evaluation import evaluate
from .inference import load_backend
from .io import atomic_output
from .metrics.pixel import IGNORE_INDEX, confusion_counts, scores_from_counts
from .models import load_bundle, read_checkpoint
from .tasks.student import PSEUDO_LABEL_THRESHOLD


@dataclass(frozen=True)
class Method:
    """One row family of the table.

    Attributes:
        label: name in the table, plot and figure.
        needs: the teachers run a distilled student learns from (None: trains alone).
    """

    label: str
    needs: str | None = None


#: Every method the runner knows; ``configs/<bench>/<key>.yaml`` trains it.
METHODS: dict[str, Method] = {
    "supervised": Method("Supervised student"),
    "mean_teacher": Method("Mean Teacher"),
    "cps": Method("CPS"),
    "kd": Method("KD (labels-only teachers)", needs="teachers_labeled_only"),
    "sslkd": Method("SSLKD student", needs="teachers"),
    "teachers": Method("SSLKD teacher A (reference)"),
    "teachers_labeled_only": Method("KD teacher A (reference)"),
}
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


@dataclass
class Experiment:
    """An experiment's settings (``configs/bench/experiment.yaml``).

    Attributes:
        name: the benchmark's name.
        data: dataset folder in roadkd's layout.
        synth: settings of :func:`write_synthetic_dataset` to create ``data`` when it is
            missing; None for a real dataset, which must already exist.
        configs: folder with one training config per method.
        ratios: labelled ratios, each in (0, 1].
        methods: the compared methods.
        references: rows shown as upper references (dashed in the plot).
        overrides: LightningCLI overrides passed to every training run.
        out: results folder.
        source: the experiment file (set by :meth:`from_yaml`).
        options: command-line arguments that replaced the file's settings, as typed.
    """

    name: str = "bench"
    data: str = "bench/data"
    synth: dict[str, int] | None = field(
        default_factory=lambda: {"scenes": 12, "size": 1024, "seed": 0}
    )
    configs: str = "configs/bench"
    ratios: list[float] = field(default_factory=lambda: [0.125, 0.25, 0.5, 1.0])
    methods: list[str] = field(
        default_factory=lambda: ["supervised", "mean_teacher", "cps", "kd", "sslkd"]
    )
    references: list[str] = field(default_factory=lambda: ["teachers"])
    overrides: list[str] = field(default_factory=list)
    out: str = "results/bench"
    source: str = ""
    options: list[str] = field(default_factory=list)

    @classmethod
    def from_yaml(
        cls,
        path: str | Path,
        overrides: list[str] | None = None,
        ratios: list[float] | None = None,
        out: str | Path | None = None,
        methods: list[str] | None = None,
    ) -> "Experiment":
        """Read an experiment file.

        Args:
            path: the YAML file.
            overrides: LightningCLI overrides passed to every training run.
            ratios: run only these labelled ratios instead of the file's.
            out: results folder instead of the file's (e.g. for a second seed).
            methods: compare only these methods instead of the file's.

        Raises:
            RoadkdError: if the file is missing, has unknown keys, names an unknown method,
                a ratio outside (0, 1], or a method without a config file.
        """
        p = Path(path)
        if not p.is_file():
            raise RoadkdError(f"experiment config not found: {p}")
        values = yaml.safe_load(p.read_text()) or {}
        unknown = set(values) - set(cls.__dataclass_fields__) | (
            {"source", "options"} & set(values)
        )
        if unknown:
            raise RoadkdError(f"{p}: unknown keys {sorted(unknown)}")
        experiment = cls(**values, source=str(p))
        experiment.overrides = [*experiment.overrides, *(overrides or [])]
        if ratios:
            experiment.ratios = list(ratios)
            experiment.options += [a for r in ratios for a in ("--ratio", f"{r:g}")]
        if methods:
            experiment.methods = list(methods)
            experiment.options += [a for m in methods for a in ("--method", m)]
        if out is not None:
            experiment.out = str(out)
            experiment.options += ["--out", str(out)]
        for method in experiment.rows_methods:
            if method not in METHODS:
                raise RoadkdError(f"{p}: unknown method {method!r} (known: {', '.join(METHODS)})")
        for ratio in experiment.ratios:
            if not 0 < ratio <= 1:
                raise RoadkdError(f"{p}: labelled ratio {ratio} is not in (0, 1]")
        for method in {*experiment.rows_methods, *experiment.needed_teachers}:
            config = Path(experiment.configs) / f"{method}.yaml"
            if not config.is_file():
                raise RoadkdError(f"{p}: no training config for {method!r}: {config} not found")
        return experiment

    @property
    def rows_methods(self) -> list[str]:
        """Methods with rows in the table: the compared ones, then the references."""
        return [*self.methods, *self.references]

    @property
    def needed_teachers(self) -> list[str]:
        """Teachers runs the distilled methods need."""
        return [need for m in self.rows_methods if (need := METHODS[m].needs) is not None]

    @property
    def command(self) -> str:
        """The command line that runs this experiment, quoted for a POSIX shell."""
        words = ["roadkd", "experiment", "--config", self.source, *self.options, *self.overrides]
        return shlex.join(words)


def ratio_label(ratio: float) -> str:
    """Write a labelled ratio as a fraction: 0.125 -> "1/8", 1.0 -> "1"."""
    return str(Fraction(ratio).limit_denominator(1024))


def _run_dir(experiment: Experiment, method: str, ratio: float) -> Path:
    return Path(experiment.out) / "runs" / f"{method}_r{ratio:g}"


def _train(experiment: Experiment, method: str, ratio: float, log: Any) -> Path:
    run = _run_dir(experiment, method, ratio)
    best = run / "checkpoints" / "best.ckpt"
    record = run / "train.json"
    if record.is_file() and best.is_file():
        return best
    command = [
        sys.executable,
        "-m",
        "roadkd_cli.main",
        "train",
        "fit",
        "--config",
        str(Path(experiment.configs) / f"{method}.yaml"),
        "--data.init_args.root",
        experiment.data,
        f"--data.init_args.labeled_ratio={ratio}",
        "--trainer.default_root_dir",
        str(run),
        "--trainer.enable_progress_bar=false",
    ]
    needs = METHODS[method].needs
    if needs:
        teachers = _train(experiment, needs, ratio, log)
        command += ["--model.init_args.teachers_checkpoint", str(teachers)]
    command += experiment.overrides
    last = run / "checkpoints" / "last.ckpt"
    if last.is_file():
        # Training stopped before it finished: continue it rather than start again.
        command += ["--ckpt_path", str(last)]
        log(f"resume {method} at ratio {ratio_label(ratio)} from {last}")
    else:
        log(f"train {method} at ratio {ratio_label(ratio)}")
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    run.mkdir(parents=True, exist_ok=True)
    with (run / "train.log").open("a") as handle:
        handle.write(done.stdout + done.stderr)
    if done.returncode != 0 or not best.is_file():
        raise RoadkdError(
            f"training {method} at ratio {ratio_label(ratio)} failed: see {run / 'train.log'}"
        )
    with atomic_output(record) as tmp:
        tmp.write_text(json.dumps({"command": command, "seconds": seconds}, indent=2))
    return best


def cpu_megapixels_per_second(checkpoint: Path, tile: int = 512, repeats: int = 5) -> float:
    """Forward throughput of a checkpoint's deployed network on the CPU, in megapixels/s."""
    backend = load_backend(checkpoint, "cpu")
    batch = torch.rand(1, backend.in_channels, tile, tile) * 255
    backend.predict(batch)
    start = time.perf_counter()
    for _ in range(repeats):
        backend.predict(batch)
    return repeats * tile * tile / 1e6 / (time.perf_counter() - start)


def _add_model_facts(experiment: Experiment, rows: list[dict[str, Any]]) -> None:
    """Fill every row's model name, parameter count and ``cpu_mp_per_s``.

    Throughput depends on the architecture only, so it is measured once per model, after
    all training, which keeps the column free of load from concurrent work.
    """
    speeds: dict[str, float] = {}
    for row in rows:
        best = _run_dir(experiment, row["method"], row["ratio"]) / "checkpoints" / "best.ckpt"
        bundle = load_bundle(best)
        row["model"] = f"{bundle.config.arch}/{bundle.config.encoder}"
        row["params_m"] = round(sum(p.numel() for p in bundle.model.parameters()) / 1e6, 2)
        if row["model"] not in speeds:
            speeds[row["model"]] = round(cpu_megapixels_per_second(best), 3)
        row["cpu_mp_per_s"] = speeds[row["model"]]


def _train_seconds(run: Path) -> float:
    """Wall time of a run's training, or NaN when it was trained outside the runner."""
    record = run / "train.json"
    return float(json.loads(record.read_text())["seconds"]) if record.is_file() else math.nan


def _score(experiment: Experiment, method: str, ratio: float, log: Any) -> dict[str, Any]:
    run = _run_dir(experiment, method, ratio)
    result_file = run / "result.json"
    if result_file.is_file():
        cached: dict[str, Any] = json.loads(result_file.read_text())
        return cached
    best = _train(experiment, method, ratio, log)
    log(f"evaluate {method} at ratio {ratio_label(ratio)}")
    scores = evaluate(best, experiment.data, "test").overall
    row = {
        "method": method,
        "ratio": ratio,
        **{k: scores[k] for k in SCORES},
        "train_min": round(_train_seconds(run) / 60, 1),
    }
    with atomic_output(result_file) as tmp:
        tmp.write_text(json.dumps(row, indent=2))
    return row


def _pseudo_labels(experiment: Experiment, ratio: float, log: Any) -> dict[str, float]:
    """Measure the SSLKD teachers' pseudo labels on the test split (cached in their run).

    The threshold is the one the SSLKD student of the same ratio trained with (the task's
    default when the experiment has no SSLKD run).
    """
    run = _run_dir(experiment, "teachers", ratio)
    cache = run / "pseudo_labels.json"
    if cache.is_file():
        cached: dict[str, float] = json.loads(cache.read_text())
        return cached
    student = _run_dir(experiment, "sslkd", ratio) / "checkpoints" / "best.ckpt"
    threshold = PSEUDO_LABEL_THRESHOLD
    if student.is_file():
        hparams = read_checkpoint(student)["hyper_parameters"]
        threshold = float(hparams.get("threshold", threshold))
    log(f"pseudo-label quality of the teachers at ratio {ratio_label(ratio)}")
    quality = pseudo_label_quality(
        run / "checkpoints" / "best.ckpt", experiment.data, "test", threshold
    )
    row = {
        "ratio": ratio,
        "threshold": threshold,
        **{k: round(getattr(quality, k), 4) for k in PSEUDO_COLUMNS[2:7]},
        **{f"iou_{k}": round(v, 4) for k, v in quality.teacher_iou.items()},
    }
    with atomic_output(cache) as tmp:
        tmp.write_text(json.dumps(row, indent=2))
    return row


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


def run_experiment(experiment: Experiment, log: Any = print) -> list[dict[str, Any]]:
    """Train, evaluate and report every method at every ratio (resuming finished runs).

    Returns:
        One row per (method, ratio), as written to ``table.csv``.

    Raises:
        RoadkdError: if a real dataset (``synth: null``) is missing or a training fails.
    """
    data = Path(experiment.data)
    if not (data / "splits.json").is_file():
        if experiment.synth is None:
            raise RoadkdError(
                f"no dataset in {data} (splits.json missing): create it first, e.g. "
                f"`roadkd data roadnet /path/to/RoadNet --out {data}`"
            )
        log(f"generate synthetic data in {data}")
        write_synthetic_dataset(data, **experiment.synth)
    rows = [
        _score(experiment, method, ratio, log)
        for ratio in experiment.ratios
        for method in experiment.rows_methods
    ]
    _add_model_facts(experiment, rows)
    pseudo = []
    if "teachers" in [*experiment.rows_methods, *experiment.needed_teachers]:
        pseudo = [_pseudo_labels(experiment, ratio, log) for ratio in experiment.ratios]
    out = Path(experiment.out)
    about = provenance(experiment)
    write_table(rows, out, about, pseudo)
    plot_iou(rows, out / "iou_vs_ratio.png", experiment.references)
    plot_examples(experiment, out / "examples.png")
    return rows


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


def plot_iou(rows: list[dict[str, Any]], out: Path, references: list[str]) -> None:
    """Road IoU against the labelled ratio, one line per method (references dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ratios = sorted({r["ratio"] for r in rows})
    for method in dict.fromkeys(r["method"] for r in rows):
        points = sorted((r["ratio"], r["road_iou"]) for r in rows if r["method"] == method)
        style = "--" if method in references else "-"
        ax.plot(*zip(*points, strict=True), style, marker="o", label=METHODS[method].label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(ratios, [ratio_label(r) for r in ratios])
    ax.minorticks_off()
    ax.set_xlabel("labelled ratio")
    ax.set_ylabel("test road IoU")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    with atomic_output(out) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)


def pick_crops(
    masks: list[np.ndarray], crop: int, count: int, margin: int
) -> list[tuple[int, int, int]]:
    """Choose the test crops to show.

    The ``count`` crops with the most road, at most one per scene until every scene has
    given one, never overlapping.

    Args:
        masks: ground-truth road masks of the test scenes.
        crop: side of a crop in pixels.
        count: number of crops.
        margin: context kept around a crop (crops stay this far from scene edges).

    Returns:
        (scene index, row, col) of each crop's top-left corner.
    """
    candidates = []
    for index, mask in enumerate(masks):
        height, width = mask.shape
        for row in range(margin, height - crop - margin + 1, crop // 2):
            for col in range(margin, width - crop - margin + 1, crop // 2):
                road = int(mask[row : row + crop, col : col + crop].sum())
                candidates.append((road, index, row, col))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2], c[3]))
    picked: list[tuple[int, int, int]] = []
    for rounds in range(count):
        for _, index, row, col in candidates:
            if len(picked) == count:
                return picked
            taken = [p for p in picked if p[0] == index]
            overlaps = any(abs(r - row) < crop and abs(c - col) < crop for _, r, c in taken)
            if len(taken) <= rounds and not overlaps:
                picked.append((index, row, col))
    return picked


def error_colours(prediction: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """RGB picture of a binary prediction against labels (1 road, 0 background, 255 unknown).

    Hits are white, false roads red, missed roads blue and unknown pixels grey.
    """
    truth = labels == 1
    picture = np.zeros((*labels.shape, 3), dtype=np.uint8)
    picture[prediction & truth] = (255, 255, 255)
    picture[prediction & ~truth] = (230, 40, 40)
    picture[~prediction & truth] = (40, 110, 255)
    picture[labels == IGNORE_INDEX] = (128, 128, 128)
    return picture


def plot_examples(
    experiment: Experiment, out: Path, crop: int = 256, count: int = 3, margin: int = 32
) -> None:
    """Draw the paper's Figure 4: image, ground truth and each method's prediction.

    Every method is shown on the same test crops (from :func:`pick_crops`), at the lowest
    labelled ratio; each panel is titled with its crop's road IoU.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import rasterio

    root = Path(experiment.data)
    scenes = read_splits(root)["test"]
    masks = []
    for scene in scenes:
        with rasterio.open(mask_path(root, scene)) as src:
            masks.append(src.read(1))
    side = min(min(mask.shape) for mask in masks)
    margin = min(margin, side // 8)
    crop = min(crop, side - 2 * margin)
    crops = pick_crops([mask == 1 for mask in masks], crop, count, margin)
    images = []
    for index, row, col in crops:
        with rasterio.open(image_path(root, scenes[index])) as src:
            window = ((row - margin, row + crop + margin), (col - margin, col + crop + margin))
            images.append(src.read(window=window))
    ratio = min(experiment.ratios)
    inner = (slice(margin, margin + crop), slice(margin, margin + crop))
    labels = [masks[i][r : r + crop, c : c + crop] for i, r, c in crops]
    # Each column: its title and one (picture, caption) per crop.
    columns: list[tuple[str, list[tuple[np.ndarray, str]]]] = [
        ("image", [(image[:3].transpose(1, 2, 0)[inner], "") for image in images]),
        ("ground truth", [(error_colours(truth == 1, truth), "") for truth in labels]),
    ]
    for method in experiment.rows_methods:
        checkpoint = _run_dir(experiment, method, ratio) / "checkpoints" / "best.ckpt"
        backend = load_backend(checkpoint)
        panels = []
        for image, truth in zip(images, labels, strict=True):
            batch = torch.from_numpy(image.astype(np.float32))[None]
            road = backend.predict(batch)[0].cpu().numpy()[inner] >= 0.5
            iou = scores_from_counts(*confusion_counts(road, truth))["road_iou"]
            panels.append((error_colours(road, truth), f"IoU {iou:.2f}"))
        columns.append((METHODS[method].label, panels))
    fig, axes = plt.subplots(
        len(crops), len(columns), figsize=(2.1 * len(columns), 2.3 * len(crops)), squeeze=False
    )
    for c, (title, panels) in enumerate(columns):
        for r, (picture, caption) in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title("\n".join(filter(None, [title if r == 0 else "", caption])), fontsize=7)
    fig.suptitle(
        f"Test crops at labelled ratio {ratio_label(ratio)}: white hit, red false road, "
        "blue missed road, grey unlabelled",
        fontsize=8,
    )
    with atomic_output(out) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
