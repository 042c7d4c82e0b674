"""Reproduce the paper's comparison: every method at every labelled ratio, one table.

The runner trains each method with its ``configs/bench`` config (the same data, split,
seed and budget for all), evaluates the best checkpoint on the test split, and writes a
table (Markdown + CSV), a plot of road IoU against the labelled ratio and a qualitative
figure. Finished runs (those with a ``result.json``) are read back instead of repeated,
so an interrupted experiment resumes where it stopped.
"""

import csv
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from .datasets.layout import image_path, mask_path, read_splits
from .datasets.synthetic import write_synthetic_dataset
from .errors import RoadkdError
from .evaluation import evaluate
from .inference import load_backend
from .io import atomic_output

#: Methods and what they need: the config stem, and the teachers run they distil from.
METHODS: dict[str, dict[str, str | None]] = {
    "teachers": {"config": "teachers", "needs": None},
    "teachers_labeled_only": {"config": "teachers_labeled_only", "needs": None},
    "supervised": {"config": "supervised", "needs": None},
    "mean_teacher": {"config": "mean_teacher", "needs": None},
    "cps": {"config": "cps", "needs": None},
    "kd": {"config": "kd", "needs": "teachers_labeled_only"},
    "sslkd": {"config": "sslkd", "needs": "teachers"},
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
    "params_m",
    "cpu_mp_per_s",
]


@dataclass
class Experiment:
    """An experiment's settings (``configs/bench/experiment.yaml``)."""

    name: str = "bench"
    data: str = "bench/data"
    synth: dict[str, int] = field(default_factory=lambda: {"scenes": 12, "size": 1024, "seed": 0})
    configs: str = "configs/bench"
    ratios: list[float] = field(default_factory=lambda: [0.125, 0.25, 0.5, 1.0])
    methods: list[str] = field(
        default_factory=lambda: ["supervised", "mean_teacher", "cps", "kd", "sslkd"]
    )
    references: list[str] = field(default_factory=lambda: ["teachers"])
    overrides: list[str] = field(default_factory=list)
    out: str = "results/bench"

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None) -> "Experiment":
        """Read an experiment file; ``overrides`` are passed to every training run."""
        p = Path(path)
        if not p.is_file():
            raise RoadkdError(f"experiment config not found: {p}")
        values = yaml.safe_load(p.read_text()) or {}
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise RoadkdError(f"{p}: unknown keys {sorted(unknown)}")
        experiment = cls(**values)
        experiment.overrides = [*experiment.overrides, *(overrides or [])]
        for method in [*experiment.methods, *experiment.references]:
            if method not in METHODS:
                raise RoadkdError(f"{p}: unknown method {method!r} (known: {', '.join(METHODS)})")
        return experiment


def _run_dir(experiment: Experiment, method: str, ratio: float) -> Path:
    return Path(experiment.out) / "runs" / f"{method}_r{ratio:g}"


def _train(experiment: Experiment, method: str, ratio: float, log: Any) -> Path:
    run = _run_dir(experiment, method, ratio)
    best = run / "checkpoints" / "best.ckpt"
    if best.is_file():
        return best
    spec = METHODS[method]
    command = [
        sys.executable,
        "-m",
        "roadkd_cli.main",
        "train",
        "fit",
        "--config",
        str(Path(experiment.configs) / f"{spec['config']}.yaml"),
        "--data.init_args.root",
        experiment.data,
        f"--data.init_args.labeled_ratio={ratio}",
        "--trainer.default_root_dir",
        str(run),
        "--trainer.enable_progress_bar=false",
    ]
    if spec["needs"]:
        teachers = _train(experiment, str(spec["needs"]), ratio, log)
        command += ["--model.init_args.teachers_checkpoint", str(teachers)]
    command += experiment.overrides
    log(f"train {method} at ratio {ratio:g}")
    done = subprocess.run(command, capture_output=True, text=True)
    (run / "train.log").parent.mkdir(parents=True, exist_ok=True)
    (run / "train.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0 or not best.is_file():
        raise RoadkdError(f"training {method} at ratio {ratio:g} failed: see {run / 'train.log'}")
    return best


def cpu_megapixels_per_second(checkpoint: Path, tile: int = 512, repeats: int = 3) -> float:
    """Student forward throughput on the CPU, in megapixels per second."""
    backend = load_backend(checkpoint, "cpu")
    batch = torch.rand(1, backend.in_channels, tile, tile) * 255
    backend.predict(batch)
    start = time.perf_counter()
    for _ in range(repeats):
        backend.predict(batch)
    return repeats * tile * tile / 1e6 / (time.perf_counter() - start)


def _score(experiment: Experiment, method: str, ratio: float, log: Any) -> dict[str, Any]:
    run = _run_dir(experiment, method, ratio)
    result_file = run / "result.json"
    if result_file.is_file():
        cached: dict[str, Any] = json.loads(result_file.read_text())
        return cached
    best = _train(experiment, method, ratio, log)
    log(f"evaluate {method} at ratio {ratio:g}")
    scores = evaluate(best, experiment.data, "test", device="cpu").overall
    backend = load_backend(best, "cpu")
    row = {
        "method": method,
        "ratio": ratio,
        **{k: scores[k] for k in COLUMNS[2:8]},
        "params_m": round(sum(p.numel() for p in backend.model.parameters()) / 1e6, 2),  # type: ignore[attr-defined]
        "cpu_mp_per_s": round(cpu_megapixels_per_second(best), 3),
    }
    with atomic_output(result_file) as tmp:
        tmp.write_text(json.dumps(row, indent=2))
    return row


def run_experiment(experiment: Experiment, log: Any = print) -> list[dict[str, Any]]:
    """Train, evaluate and report every method at every ratio (resuming finished runs).

    Returns:
        One row per (method, ratio), as written to ``table.csv``.
    """
    data = Path(experiment.data)
    if not (data / "splits.json").is_file():
        log(f"generate synthetic data in {data}")
        write_synthetic_dataset(data, **experiment.synth)
    rows = [
        _score(experiment, method, ratio, log)
        for ratio in experiment.ratios
        for method in [*experiment.methods, *experiment.references]
    ]
    out = Path(experiment.out)
    write_table(rows, out)
    plot_iou(rows, out / "iou_vs_ratio.png")
    plot_examples(experiment, out / "examples.png")
    return rows


def write_table(rows: list[dict[str, Any]], out: Path) -> None:
    """Write ``table.csv`` and ``table.md``."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(out / "table.csv") as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row[c]) for c in COLUMNS) + " |" for row in rows]
    with atomic_output(out / "table.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def plot_iou(rows: list[dict[str, Any]], out: Path) -> None:
    """Road IoU against the labelled ratio, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for method in dict.fromkeys(r["method"] for r in rows):
        points = sorted((r["ratio"], r["road_iou"]) for r in rows if r["method"] == method)
        ax.plot(*zip(*points, strict=True), marker="o", label=method)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("labelled ratio")
    ax.set_ylabel("test road IoU")
    ax.legend()
    ax.grid(alpha=0.3)
    with atomic_output(out) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)


def plot_examples(experiment: Experiment, out: Path, crop: int = 256) -> None:
    """Image, ground truth and each method's prediction on test crops (lowest ratio)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import rasterio

    scene = read_splits(experiment.data)["test"][0]
    with rasterio.open(image_path(Path(experiment.data), scene)) as src:
        image = src.read(window=((0, crop), (0, crop)))
    with rasterio.open(mask_path(Path(experiment.data), scene)) as src:
        truth = src.read(1, window=((0, crop), (0, crop)))
    ratio = min(experiment.ratios)
    panels: list[tuple[str, np.ndarray]] = [
        ("image", image.transpose(1, 2, 0)),
        ("ground truth", truth),
    ]
    for method in [*experiment.methods, *experiment.references]:
        backend = load_backend(
            _run_dir(experiment, method, ratio) / "checkpoints" / "best.ckpt", "cpu"
        )
        prob = backend.predict(torch.from_numpy(image.astype(np.float32))[None])[0].numpy()
        panels.append((f"{method} ({ratio:g})", prob >= 0.5))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.4 * len(panels), 2.6))
    for ax, (title, picture) in zip(np.atleast_1d(axes), panels, strict=True):
        ax.imshow(picture, cmap=None if picture.ndim == 3 else "gray")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    with atomic_output(out) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)
