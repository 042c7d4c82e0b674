"""Launch, resume and score every (method, ratio) run of an experiment."""

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import rasterio
import torch
import yaml

from ..datamodules import RoadDataModule
from ..datamodules.labeled_split import SPLIT_FILE, read_split_summary
from ..datasets.layout import mask_path, read_splits
from ..datasets.synthetic import synthetic_settings, write_synthetic_dataset
from ..diagnostics import FusionRule, pseudo_label_quality
from ..errors import RoadkdError
from ..evaluation import evaluate
from ..inference import load_backend
from ..io import atomic_output
from ..losses import PSEUDO_LABEL_THRESHOLD
from ..models import load_bundle, read_checkpoint
from ..training import THREADS_ENV
from .config import METHODS, Experiment, ratio_label
from .figures import plot_examples, plot_iou
from .record import (
    discard_run,
    fingerprint,
    forget_scores,
    keep_record,
    restore_record,
    run_dir,
    taught_by_other_teachers,
)
from .report import PSEUDO_RULE_SCORES, provenance, write_table
from .rundir import RunDir
from .statistics import SCORES, USED_MARK, trivial_rows


def _name(run: RunDir) -> str:
    return f"{run.method} at ratio {ratio_label(run.ratio)}, seed {run.seed}"


def training_command(
    experiment: Experiment, run: RunDir, teachers: Path | None = None
) -> list[str]:
    """The command that trains (or, from its ``last.ckpt``, continues) one run.

    Training goes through the library's LightningCLI (``python -m roadkd.training``) in a
    subprocess, so that a long experiment does not accumulate one process's memory.

    Args:
        experiment: the experiment.
        run: the run to train.
        teachers: the teachers checkpoint a distilled student learns from.

    Returns:
        The command, as a list of arguments.
    """
    command = [
        sys.executable,
        "-m",
        "roadkd.training",
        "fit",
        "--config",
        str(Path(experiment.configs) / f"{run.method}.yaml"),
        "--data.init_args.root",
        experiment.data,
        f"--data.init_args.labeled_ratio={run.ratio}",
        f"--seed_everything={run.seed}",
        f"--data.init_args.split_seed={run.seed}",
        "--trainer.default_root_dir",
        str(run.path),
        "--trainer.enable_progress_bar=false",
    ]
    if teachers is not None:
        command += ["--model.init_args.teachers_checkpoint", str(teachers)]
    command += _weights_overrides(experiment, run.method)
    command += experiment.overrides
    if run.last.is_file():
        # Training stopped before it finished: continue it rather than start again.
        command += ["--ckpt_path", str(run.last)]
    return command


def _weights_overrides(experiment: Experiment, method: str) -> list[str]:
    """Point every network of a method's config whose encoder has local weights at them."""
    if not experiment.encoder_weights:
        return []
    config = yaml.safe_load((Path(experiment.configs) / f"{method}.yaml").read_text()) or {}
    networks = config.get("model", {}).get("init_args", {})
    return [
        f"--model.init_args.{name}.weights={experiment.encoder_weights[net['encoder']]}"
        for name, net in networks.items()
        if isinstance(net, dict) and net.get("encoder") in experiment.encoder_weights
    ]


def _train(experiment: Experiment, method: str, ratio: float, seed: int, log: Any) -> Path:
    run = run_dir(experiment, method, ratio, seed)
    if run.is_trained:
        return run.best
    needs = METHODS[method].needs
    teachers = _train(experiment, needs, ratio, seed, log) if needs else None
    command = training_command(experiment, run, teachers)
    forget_scores(experiment, run)  # a row read back from the record scored other weights
    before: float | None = 0.0  # training seconds before this start; None: unknown
    if run.last.is_file():
        log(f"resume {_name(run)} from {run.last}")
        before = timer_seconds(run.last)
    else:
        log(f"train {_name(run)}")
    start = time.perf_counter()
    env = {**os.environ, THREADS_ENV: str(experiment.threads)}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    run.path.mkdir(parents=True, exist_ok=True)
    with run.log.open("a") as handle:
        handle.write(done.stdout + done.stderr)
    if done.returncode != 0 or not run.best.is_file():
        raise RoadkdError(f"training {_name(run)} failed: see {run.log}")
    # A run resumed from a checkpoint without a timer (written before roadkd saved one)
    # has an unknown training time: NaN, not the time of its last part.
    total = math.nan if before is None else before + seconds
    trained: dict[str, Any] = {"command": command, "seconds": total}
    trained["checkpoint"] = fingerprint(run.best)
    if teachers is not None:
        trained["teachers"] = fingerprint(teachers)
    with atomic_output(run.trained) as tmp:
        tmp.write_text(json.dumps(trained, indent=2))
    return run.best


def timer_seconds(checkpoint: Path) -> float | None:
    """Training time saved in a checkpoint by Lightning's ``Timer``, or None without one."""
    states = read_checkpoint(checkpoint, "checkpoint").get("callbacks", {})
    for key, state in states.items():
        if str(key).startswith("Timer"):
            return float(state["time_elapsed"]["train"])
    return None


def cpu_megapixels_per_second(checkpoint: Path, tile: int = 512, repeats: int = 5) -> float:
    """Forward throughput of a checkpoint's deployed network on the CPU, in megapixels/s."""
    backend = load_backend(checkpoint, "cpu")
    batch = torch.rand(1, backend.in_channels, tile, tile) * 255
    backend.predict(batch)
    start = time.perf_counter()
    for _ in range(repeats):
        backend.predict(batch)
    return repeats * tile * tile / 1e6 / (time.perf_counter() - start)


def _model_facts(checkpoint: Path) -> dict[str, Any]:
    """A checkpoint's deployed model name and its parameter count in millions."""
    bundle = load_bundle(checkpoint)
    return {
        "model": f"{bundle.config.arch}/{bundle.config.encoder}",
        "params_m": round(sum(p.numel() for p in bundle.model.parameters()) / 1e6, 2),
    }


def _add_model_facts(experiment: Experiment, rows: list[dict[str, Any]]) -> None:
    """Fill every row's model name, parameter count and ``cpu_mp_per_s``.

    Throughput depends on the architecture only, so it is measured once per model, after
    all training, which keeps the column free of load from concurrent work. A run whose
    checkpoint is not on this machine (read back from the ``record``) keeps the facts it
    was recorded with; the first throughput measured for a run is recorded with it. Rows of
    one model then show its fastest throughput measured or recorded: load from other work
    only ever slows a measurement down.
    """
    speeds: dict[str, float] = {}
    for row in rows:
        run = run_dir(experiment, row["method"], row["ratio"], row["seed"])
        if not run.best.is_file():
            continue
        if "model" not in row:  # scored before result.json carried the model facts
            row.update(_model_facts(run.best))
        if row["model"] not in speeds:
            speeds[row["model"]] = round(cpu_megapixels_per_second(run.best), 3)
        row["cpu_mp_per_s"] = speeds[row["model"]]
        recorded = json.loads(run.result.read_text())
        if "cpu_mp_per_s" not in recorded:
            facts = {k: row[k] for k in ("model", "params_m", "cpu_mp_per_s")}
            _write_result(experiment, run, {**recorded, **facts})
    for row in rows:
        if "cpu_mp_per_s" in row:
            speeds[row["model"]] = max(speeds.get(row["model"], 0.0), row["cpu_mp_per_s"])
    for row in rows:
        if row.get("model") in speeds:
            row["cpu_mp_per_s"] = speeds[row["model"]]


def _write_result(experiment: Experiment, run: RunDir, row: dict[str, Any]) -> None:
    """Write a run's scored row (staged, then renamed) and keep it in the record."""
    with atomic_output(run.result) as tmp:
        tmp.write_text(json.dumps(row, indent=2))
    keep_record(experiment, run)


def _train_seconds(run: RunDir) -> float:
    """Wall time of a run's training, or NaN when it was trained outside the runner."""
    if not run.trained.is_file():
        return math.nan
    return float(json.loads(run.trained.read_text())["seconds"])


def _labeled_share(run: RunDir) -> float:
    """The realised labelled share the datamodule wrote into the run, or NaN."""
    summary = read_split_summary(run.path)
    return math.nan if summary is None else float(summary.get("labeled_share", math.nan))


def _score(
    experiment: Experiment, method: str, ratio: float, seed: int, log: Any, train: bool = True
) -> dict[str, Any] | None:
    """A run's scored row, trained and evaluated first if needed (None: not, and not finished)."""
    run = run_dir(experiment, method, ratio, seed)
    restore_record(experiment, run)
    if (stale := taught_by_other_teachers(experiment, run)) is not None:
        if not train:
            log(f"{_name(run)} left out: {stale}")
            return None
        log(f"train {_name(run)} again: {stale}")
        discard_run(experiment, run)
    if run.result.is_file():
        keep_record(experiment, run)
        cached: dict[str, Any] = json.loads(run.result.read_text())
        # the training time as train.json now states it (corrected for resumed runs)
        return {**cached, "train_min": round(_train_seconds(run) / 60, 1)}
    if not train:
        return None
    best = _train(experiment, method, ratio, seed, log)
    log(f"evaluate {_name(run)}")
    scores = evaluate(best, experiment.data, "test", tile=experiment.tile).overall
    row = {
        "method": method,
        "ratio": ratio,
        "seed": seed,
        "labeled_share": round(_labeled_share(run), 4),
        **{k: scores[k] for k in SCORES},
        "train_min": round(_train_seconds(run) / 60, 1),
        **_model_facts(best),
    }
    _write_result(experiment, run, row)
    return row


def student_rule(experiment: Experiment) -> FusionRule:
    """The fusion rule the SSLKD student's config trains with (the task's default if unset)."""
    config = Path(experiment.configs) / "sslkd.yaml"
    settings: dict[str, Any] = {}
    if config.is_file():
        settings = (yaml.safe_load(config.read_text()) or {}).get("model", {}).get("init_args", {})
    return FusionRule(
        settings.get("pseudo_labels", "threshold"),
        float(settings.get("threshold", PSEUDO_LABEL_THRESHOLD)),
    )


def mark_used_rule(rows: list[dict[str, Any]], used: FusionRule) -> list[dict[str, Any]]:
    """Mark the rows of the rule the SSLKD config learns from now (not when measured)."""
    marked = []
    for row in rows:
        rule = str(row["rule"]).removesuffix(USED_MARK)
        marked.append({**row, "rule": rule + (USED_MARK if rule == used.name else "")})
    return marked


def _pseudo_labels(
    experiment: Experiment, ratio: float, seed: int, log: Any, train: bool = True
) -> list[dict[str, Any]]:
    """Measure the SSLKD teachers' pseudo labels (cached in their run), every fusion rule.

    Where the student learns from them, the unlabelled blocks of the run's training
    scenes, and on the validation split, where a rule is chosen with the teachers alone.
    The teachers are tiled with the experiment's one tiling rule. Without ``train``, only
    what was measured before (none if nothing was).
    """
    run = run_dir(experiment, "teachers", ratio, seed)
    restore_record(experiment, run)
    if run.pseudo_labels.is_file():
        keep_record(experiment, run)
        cached: list[dict[str, Any]] = json.loads(run.pseudo_labels.read_text())
        return mark_used_rule(cached, student_rule(experiment))
    if not train:
        return []
    summary = read_split_summary(run.path)
    if summary is None:
        raise RoadkdError(f"{run.path} has no {SPLIT_FILE}: train it again")
    split = RoadDataModule(
        experiment.data,
        patch_size=summary["patch_size_px"],
        block_size=summary["block_size_px"],
        labeled_ratio=summary["labeled_ratio"],
        split_seed=summary["split_seed"],
    )
    log(f"pseudo-label quality of the teachers at ratio {ratio_label(ratio)}, seed {seed}")
    rows = []
    for where, name, regions in (
        ("unlabelled train", "train", split.unlabeled_pixels()),
        ("val", "val", None),
    ):
        quality = pseudo_label_quality(
            run.best, experiment.data, name, regions=regions, tile=experiment.tile
        )
        for rule in quality.rules:
            rows.append(
                {
                    "ratio": ratio,
                    "seed": seed,
                    "where": where,
                    "rule": rule.rule.name,
                    **{k: round(getattr(rule, k), 4) for k in PSEUDO_RULE_SCORES},
                    "agreement": round(quality.agreement, 4),
                    **{f"iou_{k}": round(v, 4) for k, v in quality.teacher_iou.items()},
                }
            )
    with atomic_output(run.pseudo_labels) as tmp:
        tmp.write_text(json.dumps(rows, indent=2))
    keep_record(experiment, run)
    return mark_used_rule(rows, student_rule(experiment))


def _trivial_maps(data: Path) -> list[dict[str, Any]]:
    """The trivial maps' scores on the test split (road 1, background 0, anything else unknown)."""
    road = background = 0
    for scene in read_splits(data)["test"]:
        with rasterio.open(mask_path(data, scene)) as src:
            labels = src.read(1)
        road += int((labels == 1).sum())
        background += int((labels == 0).sum())
    return trivial_rows(road, background)


def _require_synthetic_data(data: Path, synth: dict[str, Any]) -> None:
    """Refuse an existing folder that was not generated with the experiment's ``synth``.

    Raises:
        RoadkdError: if ``splits.json`` records other generator settings, or none.
    """
    wanted = synthetic_settings(**synth)
    recorded = read_splits(data).get("generator")
    if recorded != wanted:
        made = f"with {recorded}" if recorded else "by another tool or an older roadkd"
        raise RoadkdError(
            f"{data} was generated {made}, but the experiment asks for synth {wanted}: "
            "remove the folder to generate it again, or set `data` to another folder"
        )


def unfinished(runs: list[tuple[str, float, int]]) -> str:
    """Runs not in a table, grouped: ``SSLKD student at 1/8: seeds 1, 2; ...``."""
    seeds: dict[tuple[str, float], list[int]] = {}
    for method, ratio, seed in runs:
        seeds.setdefault((method, ratio), []).append(seed)
    return "; ".join(
        f"{METHODS[method].label} at {ratio_label(ratio)}: seed{'s' if len(s) > 1 else ''} "
        + ", ".join(map(str, s))
        for (method, ratio), s in seeds.items()
    )


def run_experiment(
    experiment: Experiment, log: Any = print, train: bool = True
) -> list[dict[str, Any]]:
    """Train, evaluate and report every method at every ratio and seed (resuming runs).

    Args:
        experiment: the experiment.
        log: receives one line per step.
        train: train and measure what is missing (False: report the finished runs, here
            or in the record, and name the others under the table).

    Returns:
        One row per (method, ratio, seed), as written to ``runs.csv`` (``table.csv`` has
        their mean and standard deviation over seeds).

    Raises:
        RoadkdError: if a real dataset (``synth: null``) is missing, a training fails, or
            nothing is finished to report.
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
    elif experiment.synth is not None:
        _require_synthetic_data(data, experiment.synth)
    runs = [
        (method, ratio, seed)
        for seed in experiment.seeds
        for ratio in experiment.ratios
        if seed in experiment.seeds_for(ratio)
        for method in experiment.methods_at(ratio)
    ]
    if train:
        for run in runs:
            _score(experiment, *run, log)
    # Scoring may have trained teachers again (their checkpoint lost), which voids the rows
    # read before of those teachers and of the students they taught; reading every row
    # again redoes exactly those (the others are read back from their result.json).
    scored = [_score(experiment, *run, log, train=train) for run in runs]
    rows = [row for row in scored if row is not None]
    missing = [run for run, row in zip(runs, scored, strict=True) if row is None]
    if not rows:
        raise RoadkdError(f"no finished runs to report in {experiment.out} or the record")
    _add_model_facts(experiment, rows)
    with_teachers = [
        ratio
        for ratio in experiment.ratios
        if any("teachers" in (m, METHODS[m].needs) for m in experiment.methods_at(ratio))
    ]
    pseudo = [
        row
        for ratio in with_teachers
        for seed in experiment.seeds_for(ratio)
        for row in _pseudo_labels(experiment, ratio, seed, log, train)
    ]
    out = Path(experiment.out)
    about = provenance(experiment)
    if missing:
        about["unfinished"] = unfinished(missing)
    summary = write_table(rows, out, about, pseudo, _trivial_maps(data))
    plot_iou(summary, out / "iou_vs_ratio.png", experiment.references)
    plot_examples(experiment, out / "examples.png")
    return rows
