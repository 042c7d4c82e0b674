"""The experiment runner: end to end at toy scale (train, evaluate, resume, report) and
its small pieces (ratios, crop choice, error colours, config checks)."""

import csv
import json
import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from roadkd_cli.main import cli

from roadkd.datasets.synthetic import synthetic_settings, write_synthetic_dataset
from roadkd.errors import RoadkdError
from roadkd.experiment import (
    COLUMNS,
    RUN_COLUMNS,
    Experiment,
    RunDir,
    error_colours,
    pick_crops,
    plot_iou,
    ratio_label,
    run_dir,
    run_experiment,
    runner,
    training_command,
    write_table,
)
from roadkd.experiment.record import (
    discard_run,
    fingerprint,
    forget_scores,
    keep_record,
    taught_by_other_teachers,
)
from roadkd.experiment.report import PSEUDO_COLUMNS
from roadkd.experiment.runner import _score, _train, timer_seconds
from roadkd.experiment.statistics import (
    DIFFERENCE_COLUMNS,
    PREMISE_COLUMNS,
    differences,
    premise,
    summarise,
    trivial_rows,
)
from roadkd.training import THREADS_ENV

BENCH = Path(__file__).parents[2] / "configs" / "bench"
TOY = [
    "--trainer.max_epochs=1",
    "--trainer.max_steps=1",
    "--trainer.limit_val_batches=1",
    "--data.init_args.patch_size=64",
    "--data.init_args.block_size=128",
    "--data.init_args.length=4",
]


#: Small networks the end-to-end run trains in place of the bench's (same tasks, data and
#: trainer settings): the run's plumbing is under test, not the networks.
TINY_NETWORKS = {
    "student": {
        "arch": "Unet",
        "encoder": "resnet18",
        "kwargs": {"encoder_depth": 3, "decoder_channels": [16, 8, 4]},
    },
    "teacher_a": {
        "arch": "Unet",
        "encoder": "resnet18",
        "kwargs": {"encoder_depth": 3, "decoder_channels": [16, 8, 4]},
    },
    "teacher_b": {
        "arch": "Segformer",
        "encoder": "mit_b0",
        "kwargs": {"decoder_segmentation_channels": 16},
    },
}


def _tiny_configs(folder: Path, methods: list[str]) -> Path:
    """The bench's training configs of ``methods`` with :data:`TINY_NETWORKS` swapped in."""
    folder.mkdir()
    for method in methods:
        config = yaml.safe_load((BENCH / f"{method}.yaml").read_text())
        init_args = config["model"]["init_args"]
        init_args.update({k: v for k, v in TINY_NETWORKS.items() if k in init_args})
        (folder / f"{method}.yaml").write_text(yaml.safe_dump(config))
    return folder


def _experiment_file(tmp_path: Path, **values: object) -> Path:
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump({"configs": str(BENCH), **values}))
    return config


@pytest.mark.slow
def test_experiment_trains_evaluates_and_reports(road_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    config = _experiment_file(
        tmp_path,
        data=str(road_dataset),
        ratios=[0.5, 1.0],
        seeds=[0, 1],
        methods=["supervised", "sslkd"],
        references=["teachers"],
        out=str(out),
        configs=str(_tiny_configs(tmp_path / "configs", ["supervised", "sslkd", "teachers"])),
    )
    command = ["experiment", "--config", str(config), "--ratio", "0.5", "--seed", "1", *TOY]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, result.output
    table = (out / "table.md").read_text()
    for label in ("Supervised student", "SSLKD student", "SSLKD teacher A (reference)"):
        assert f"| {label} | 1/2 | 1 |" in table  # one seed
    assert f"roadkd experiment --config {config} --ratio 0.5 --seed 1 {' '.join(TOY)}" in table
    assert "| 1 | 1 |" not in table  # only the chosen ratio ran
    rows = (out / "table.csv").read_text().splitlines()
    assert rows[0].split(",") == COLUMNS
    assert len(rows) == 6  # the trivial maps and the three trained rows
    assert "| All road (trivial) | 1/2 | 1 | - |" in table
    runs = (out / "runs.csv").read_text().splitlines()
    assert runs[0].split(",") == RUN_COLUMNS and len(runs) == 4
    assert all(line.split(",")[1:3] == ["0.5", "1"] for line in runs[1:])
    assert json.loads((out / "provenance.json").read_text())["command"].startswith("roadkd")
    pseudo = (out / "pseudo_labels.csv").read_text().splitlines()
    assert pseudo[0].split(",") == PSEUDO_COLUMNS and len(pseudo) == 13  # 2 places x 6 rules
    assert pseudo[1].startswith("0.5,1,unlabelled train,threshold 0.9,")
    # the bench's SSLKD configs learn from road >= 0.3
    assert pseudo[5].startswith("0.5,1,unlabelled train,road 0.3 (SSLKD),")
    assert "| 1/2 | 1 | val | argmax |" in table
    premise = (out / "premise.csv").read_text().splitlines()
    assert premise[0].split(",") == PREMISE_COLUMNS and premise[1].startswith("0.5,1,")
    assert (out / "iou_vs_ratio.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "examples.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        "sslkd_r0.5_s1",
        "supervised_r0.5_s1",
        "teachers_r0.5_s1",
    ]
    # The runs were launched through the library, never through the CLI package.
    trained = json.loads((out / "runs" / "supervised_r0.5_s1" / "train.json").read_text())
    assert trained["command"][1:3] == ["-m", "roadkd.training"]
    assert "--seed_everything=1" in trained["command"]
    # the checkpoint keeps the training time, for a resumed run to add to
    run = out / "runs" / "supervised_r0.5_s1"
    timer = timer_seconds(run / "checkpoints" / "last.ckpt")
    assert timer is not None and 0 < timer <= trained["seconds"]
    # the student records which teachers it learnt from, the teachers which weights they hold
    teachers = out / "runs" / "teachers_r0.5_s1"
    held = json.loads((teachers / "train.json").read_text())["checkpoint"]
    assert held == fingerprint(teachers / "checkpoints" / "best.ckpt")
    learnt = json.loads((out / "runs" / "sslkd_r0.5_s1" / "train.json").read_text())
    assert learnt["teachers"] == held


def _finished_run(run: RunDir, row: dict[str, object]) -> None:
    """Lay out a run folder as a finished, scored run leaves it."""
    run.best.parent.mkdir(parents=True)
    run.best.write_bytes(b"")
    run.trained.write_text(json.dumps({"command": [], "seconds": 60.0}))
    run.result.write_text(json.dumps(row))


def test_finished_runs_are_read_back_not_trained(tmp_path: Path) -> None:
    experiment = Experiment.from_yaml(
        _experiment_file(tmp_path, out=str(tmp_path / "results"), methods=["supervised"])
    )
    run = run_dir(experiment, "supervised", 0.5, 2)
    assert run.path == tmp_path / "results" / "runs" / "supervised_r0.5_s2"
    row = {"method": "supervised", "ratio": 0.5, "seed": 2, "road_iou": 0.5}
    _finished_run(run, row)
    logged: list[str] = []
    # the training time is read from train.json (60 s), which a resumed run corrects
    assert _score(experiment, "supervised", 0.5, 2, logged.append) == {**row, "train_min": 1.0}
    assert _train(experiment, "supervised", 0.5, 2, logged.append) == run.best
    assert logged == []  # nothing was trained or evaluated


def test_a_student_whose_teachers_were_trained_again_is_discarded(tmp_path: Path) -> None:
    record = tmp_path / "record"
    experiment = Experiment.from_yaml(
        _experiment_file(tmp_path, out=str(tmp_path / "results"), record=str(record))
    )
    teachers, student = (run_dir(experiment, m, 0.125, 3) for m in ("teachers", "sslkd"))
    supervised = run_dir(experiment, "supervised", 0.125, 3)
    for run in (teachers, student, supervised):
        _finished_run(run, {"method": run.method})
    held = {"command": [], "seconds": 60.0, "checkpoint": "aaaa"}
    teachers.trained.write_text(json.dumps(held))
    student.trained.write_text(json.dumps({"command": [], "seconds": 60.0, "teachers": "aaaa"}))
    student.pseudo_labels.write_text("[]")
    assert taught_by_other_teachers(experiment, student) is None
    assert taught_by_other_teachers(experiment, supervised) is None  # learns alone
    # The teachers' checkpoint was lost and trained again: other weights.
    teachers.trained.write_text(json.dumps({**held, "checkpoint": "bbbb"}))
    reason = taught_by_other_teachers(experiment, student)
    assert reason == "it learnt from teachers aaaa, and teachers_r0.125_s3 now holds bbbb"
    keep_record(experiment, student)
    discard_run(experiment, student)
    assert not student.path.exists()
    assert sorted(p.name for p in (record / student.path.name).iterdir()) == []
    assert teachers.result.is_file()  # only the student goes
    # Students recorded before fingerprints cannot be judged and are kept.
    _finished_run(student, {"method": "sslkd"})
    assert taught_by_other_teachers(experiment, student) is None


def test_new_weights_void_the_scores_of_the_old(tmp_path: Path) -> None:
    record = tmp_path / "record"
    experiment = Experiment.from_yaml(
        _experiment_file(tmp_path, out=str(tmp_path / "results"), record=str(record))
    )
    teachers = run_dir(experiment, "teachers", 0.125, 0)
    _finished_run(teachers, {"method": "teachers"})
    teachers.pseudo_labels.write_text("[]")
    keep_record(experiment, teachers)
    kept = record / teachers.path.name
    assert len(list(kept.iterdir())) == 3
    forget_scores(experiment, teachers)
    for folder in (teachers.path, kept):
        assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["train.json"]
    # a fingerprint names the bytes of a checkpoint
    teachers.best.write_bytes(b"weights")
    first = fingerprint(teachers.best)
    assert len(first) == 16 and int(first, 16) >= 0
    assert fingerprint(teachers.best) == first
    teachers.best.write_bytes(b"other weights")
    assert fingerprint(teachers.best) != first


def test_an_interrupted_training_continues_from_its_last_checkpoint(tmp_path: Path) -> None:
    experiment = Experiment.from_yaml(
        _experiment_file(tmp_path, out=str(tmp_path / "results")),
        overrides=["--trainer.max_steps=3"],
    )
    teachers = run_dir(experiment, "teachers", 0.25, 1)
    student = run_dir(experiment, "sslkd", 0.25, 1)
    fresh = training_command(experiment, student, teachers.best)
    assert fresh[1:4] == ["-m", "roadkd.training", "fit"]
    assert "--ckpt_path" not in fresh
    assert fresh[-3:] == ["--model.init_args.teachers_checkpoint", str(teachers.best), fresh[-1]]
    assert fresh[-1] == "--trainer.max_steps=3"
    assert f"--data.init_args.labeled_ratio={0.25}" in fresh
    # The seed chooses initialisation, augmentations and the labelled blocks.
    assert {"--seed_everything=1", "--data.init_args.split_seed=1"} <= set(fresh)
    student.last.parent.mkdir(parents=True)
    student.last.write_bytes(b"")
    resumed = training_command(experiment, student, teachers.best)
    assert resumed == [*fresh, "--ckpt_path", str(student.last)]
    assert not student.is_trained
    # a checkpoint saved during training, after the last validation's, is the one to resume
    between = student.path / "checkpoints" / "resume" / "last.ckpt"
    between.parent.mkdir()
    between.write_bytes(b"")
    os.utime(between, (student.last.stat().st_mtime + 60,) * 2)
    assert student.last == between
    assert training_command(experiment, student, teachers.best)[-1] == str(between)


def test_a_resumed_run_adds_the_time_its_checkpoint_saved(tmp_path: Path) -> None:
    timer = {"time_elapsed": {"train": 125.0, "validate": 0.0}}
    torch.save({"state_dict": {}, "callbacks": {"Timer": timer}}, tmp_path / "timed.ckpt")
    assert timer_seconds(tmp_path / "timed.ckpt") == 125.0
    # written before roadkd saved a timer: unknown, so the run's time is NaN
    torch.save({"state_dict": {}, "callbacks": {}}, tmp_path / "untimed.ckpt")
    assert timer_seconds(tmp_path / "untimed.ckpt") is None


def test_local_encoder_weights_reach_every_network_with_that_encoder(tmp_path: Path) -> None:
    weights = tmp_path / "resnet18.pth"
    weights.write_bytes(b"")
    experiment = Experiment.from_yaml(
        _experiment_file(tmp_path, encoder_weights={"resnet18": str(weights)}, out=str(tmp_path))
    )
    teachers = training_command(experiment, run_dir(experiment, "teachers", 0.5, 0))
    assert f"--model.init_args.teacher_a.weights={weights}" in teachers  # ResNet-18
    assert not any(".teacher_b.weights" in word for word in teachers)  # MiT-B1
    student = training_command(experiment, run_dir(experiment, "supervised", 0.5, 0))
    assert not any(".weights=" in word for word in student)  # MobileNetV2
    with pytest.raises(RoadkdError, match="encoder weights for mit_b1 not found"):
        Experiment.from_yaml(
            _experiment_file(tmp_path, encoder_weights={"mit_b1": str(tmp_path / "no.pth")})
        )


def test_experiment_config_errors(tmp_path: Path) -> None:
    with pytest.raises(RoadkdError, match="not found"):
        Experiment.from_yaml(tmp_path / "none.yaml")
    with pytest.raises(RoadkdError, match="unknown method 'magic'"):
        Experiment.from_yaml(_experiment_file(tmp_path, methods=["magic"]))
    with pytest.raises(RoadkdError, match=r"ratio 1.5 is not in \(0, 1\]"):
        Experiment.from_yaml(_experiment_file(tmp_path, ratios=[1.5]))
    with pytest.raises(RoadkdError, match="unknown keys \\['colour'\\]"):
        Experiment.from_yaml(_experiment_file(tmp_path, colour="red"))
    with pytest.raises(RoadkdError, match="seeds must be a non-empty list of integers"):
        Experiment.from_yaml(_experiment_file(tmp_path, seeds=[]))
    with pytest.raises(RoadkdError, match="unknown method 'magic'"):
        Experiment.from_yaml(_experiment_file(tmp_path, method_ratios={"magic": [0.125]}))
    with pytest.raises(RoadkdError, match=r"ratio 2 is not in \(0, 1\]"):
        Experiment.from_yaml(_experiment_file(tmp_path, method_ratios={"supervised": [2]}))
    # sslkd needs the teachers run, whose config is missing here.
    configs = tmp_path / "configs"
    configs.mkdir()
    shutil.copy(BENCH / "sslkd.yaml", configs)
    with pytest.raises(RoadkdError, match="no training config for 'teachers'"):
        Experiment.from_yaml(
            _experiment_file(tmp_path, configs=str(configs), methods=["sslkd"], references=[])
        )


def test_command_line_choices_replace_the_file_and_are_recorded(tmp_path: Path) -> None:
    config = _experiment_file(tmp_path, ratios=[0.125, 0.25, 0.5], seeds=[0, 1, 2], out="r/a")
    experiment = Experiment.from_yaml(
        config, ["--trainer.max_steps=9"], [0.125], tmp_path / "b", ["supervised", "sslkd"], [2]
    )
    assert experiment.ratios == [0.125] and experiment.out == str(tmp_path / "b")
    assert experiment.seeds == [2]
    # Only the named methods are rows; sslkd still needs (and trains) its teachers.
    assert experiment.rows_methods == ["supervised", "sslkd"]
    assert experiment.needed_teachers == ["teachers"]
    alone = Experiment.from_yaml(config, methods=["supervised"])
    assert alone.rows_methods == ["supervised"] and alone.needed_teachers == []
    named = Experiment.from_yaml(config, methods=["supervised", "teachers"])
    assert named.methods == ["supervised"] and named.references == ["teachers"]
    assert experiment.command == (
        f"roadkd experiment --config {config} --ratio 0.125 --method supervised "
        f"--method sslkd --seed 2 --out {tmp_path / 'b'} --trainer.max_steps=9"
    )
    with pytest.raises(RoadkdError, match="unknown method 'magic'"):
        Experiment.from_yaml(config, methods=["magic"])
    spaced = Experiment.from_yaml(config, out=tmp_path / "my results")
    assert spaced.command.endswith(f"--out '{tmp_path / 'my results'}'")
    plain = Experiment.from_yaml(config)
    assert plain.out == "r/a" and plain.command == f"roadkd experiment --config {config}"
    assert plain.seeds == [0, 1, 2]


def test_experiment_cli_error_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["experiment", "--config", str(tmp_path / "x.yaml")])
    assert result.exit_code != 0
    assert "experiment config not found" in result.output
    assert "Traceback" not in result.output
    config = _experiment_file(tmp_path)
    for args, message in (
        (["--method", "magic"], "unknown method 'magic'"),
        (["--out", str(config)], "is a file"),  # the results folder must not be a file
    ):
        result = CliRunner().invoke(cli, ["experiment", "--config", str(config), *args])
        assert result.exit_code != 0 and message in result.output, result.output
        assert "Traceback" not in result.output


def test_real_dataset_must_exist(tmp_path: Path) -> None:
    experiment = Experiment.from_yaml(
        _experiment_file(tmp_path, data=str(tmp_path / "roadnet"), synth=None)
    )
    with pytest.raises(RoadkdError, match="roadkd data roadnet"):
        run_experiment(experiment, log=lambda _: None)
    assert not (tmp_path / "roadnet").exists()


def test_every_shipped_experiment_names_existing_configs() -> None:
    for path in sorted((BENCH.parent).glob("*/experiment.yaml")):
        values = yaml.safe_load(path.read_text())
        values["configs"] = str(BENCH.parents[1] / values["configs"])
        experiment = Experiment(**values)
        for method in {*experiment.rows_methods, *experiment.needed_teachers}:
            assert (Path(experiment.configs) / f"{method}.yaml").is_file(), (path, method)


@pytest.mark.parametrize(
    ("ratio", "label"), [(0.125, "1/8"), (0.25, "1/4"), (1.0, "1"), (0.3, "3/10")]
)
def test_ratio_label(ratio: float, label: str) -> None:
    assert ratio_label(ratio) == label


def test_pick_crops_takes_most_road_one_per_scene_first() -> None:
    busy = np.zeros((64, 64), dtype=bool)
    busy[8:24, 8:24] = True  # 256 road pixels in the top-left crop
    busy[40:48, 40:48] = True  # 64 in the bottom-right one
    quiet = np.zeros((64, 64), dtype=bool)
    quiet[40:44, 8:12] = True  # 16
    crops = pick_crops([busy, quiet], crop=16, count=3, margin=8)
    assert crops[0] == (0, 8, 8)
    assert crops[1][0] == 1  # the second scene gives one before the first gives two
    index, row, col = crops[2]  # then the first scene's other block, whole
    assert index == 0 and row <= 40 <= 48 <= row + 16 and col <= 40 <= 48 <= col + 16
    for _, row, col in crops:
        assert 8 <= row <= 64 - 16 - 8 and 8 <= col <= 64 - 16 - 8


def test_error_colours() -> None:
    labels = np.array([[1, 1, 255], [0, 0, 255]], dtype=np.uint8)
    prediction = np.array([[True, False, True], [True, False, False]])
    picture = error_colours(prediction, labels)
    assert picture.shape == (2, 3, 3) and picture.dtype == np.uint8
    assert tuple(picture[0, 0]) == (255, 255, 255)  # hit
    assert tuple(picture[0, 1]) == (40, 110, 255)  # missed road
    assert tuple(picture[1, 0]) == (230, 40, 40)  # false road
    assert tuple(picture[1, 1]) == (0, 0, 0)
    # Unlabelled pixels are neither hits nor errors, whatever the prediction.
    assert tuple(picture[0, 2]) == tuple(picture[1, 2]) == (128, 128, 128)


def _row(method: str, seed: int, road_iou: float) -> dict[str, object]:
    return {
        "method": method,
        "ratio": 0.125,
        "seed": seed,
        "labeled_share": 0.125,
        "road_iou": road_iou,
        "f1": 0.8,
        "precision": 0.9,
        "recall": 0.7 + seed / 100,
        "miou": 0.85,
        "accuracy": 0.95,
        "class_precision": 0.92,
        "class_recall": 0.83,
        "macro_f1": 0.87,
        "apls": 0.5,
        "model": "DeepLabV3Plus/mobilenet_v2",
        "params_m": 4.38,
        "cpu_mp_per_s": 0.123,
        "train_min": 6.5 + seed,
    }


def _recorded(record: Path, run: str, row: dict[str, object]) -> None:
    """A finished run as the record keeps it: no checkpoint, its row and training time."""
    (record / run).mkdir(parents=True)
    (record / run / "result.json").write_text(json.dumps(row))
    (record / run / "train.json").write_text(json.dumps({"command": [], "seconds": 600.0}))


def test_report_only_tables_the_recorded_runs_and_names_the_rest(
    road_dataset: Path, tmp_path: Path
) -> None:
    record, out = tmp_path / "record", tmp_path / "results"
    _recorded(record, "supervised_r0.125_s0", {**_row("supervised", 0, 0.3), "cpu_mp_per_s": 0.1})
    _recorded(record, "teachers_r0.125_s0", _row("teachers", 0, 0.5))
    _recorded(record, "cps_r0.125_s0", {**_row("cps", 0, 0.2), "cpu_mp_per_s": 0.9})
    # measured when the SSLKD config still learnt from threshold 0.9
    pseudo = {"ratio": 0.125, "seed": 0, "where": "unlabelled train"}
    pseudo.update({c: 0.5 for c in PSEUDO_COLUMNS[4:]})
    rules = ("threshold 0.9 (SSLKD)", "road 0.3")
    (record / "teachers_r0.125_s0" / "pseudo_labels.json").write_text(
        json.dumps(
            [{**pseudo, "rule": rule, "road_recall": 0.1 + k} for k, rule in enumerate(rules)]
        )
    )
    config = _experiment_file(
        tmp_path,
        data=str(road_dataset),
        ratios=[0.125],
        seeds=[0, 1],
        methods=["supervised", "cps", "sslkd"],
        references=["teachers"],
        out=str(out),
        record=str(record),
    )
    result = CliRunner().invoke(cli, ["experiment", "--config", str(config), "--report-only"])
    assert result.exit_code == 0, result.output
    assert "3 runs ->" in result.output
    table = (out / "table.md").read_text()
    assert (
        "Not finished yet, so not in this report: SSLKD student at 1/8: seeds 0, 1; "
        "Supervised student at 1/8: seed 1; CPS at 1/8: seed 1; "
        "SSLKD teacher A (reference) at 1/8: seed 1."
    ) in table
    # The bench's SSLKD config learns from road >= 0.3 now: that rule is marked.
    rows = list(csv.DictReader((out / "pseudo_labels.csv").open()))
    assert [r["rule"] for r in rows] == ["threshold 0.9", "road 0.3 (SSLKD)"]
    assert "| 1/8 | 0 | 0.500 | - | CPS | 0.200 | +0.300 | 0.500 | 1.100 |" in table
    # one model, one throughput: the fastest recorded
    runs = list(csv.DictReader((out / "runs.csv").open()))
    assert {r["method"]: r["cpu_mp_per_s"] for r in runs}["supervised"] == "0.9"
    assert not list(out.glob("runs/*/checkpoints"))  # nothing was trained
    assert sorted(p.name for p in record.iterdir()) == [
        "cps_r0.125_s0",
        "supervised_r0.125_s0",
        "teachers_r0.125_s0",
    ]
    empty = _experiment_file(tmp_path, data=str(road_dataset), out=str(tmp_path / "none"))
    result = CliRunner().invoke(cli, ["experiment", "--config", str(empty), "--report-only"])
    assert result.exit_code == 1 and "no finished runs to report" in result.output


def test_write_table_states_mean_std_and_seeds(tmp_path: Path) -> None:
    rows = [_row("sslkd", 0, 0.7), _row("sslkd", 1, 0.8), _row("sslkd", 2, 0.9)]
    rows.append(_row("supervised", 0, 0.71234))
    rows.append({**_row("kd", 0, 0.6), "train_min": math.nan})  # resumed, time unknown
    about = {
        "benchmark": "bench",
        "command": "roadkd experiment --config x.yaml",
        "commit": "abc1234",
        "date": "2026-11-25 10:00 UTC",
        "machine": "x86_64",
        "torch": "2",
    }
    summary = write_table(rows, tmp_path, about)
    assert [(r["method"], r["n_seeds"]) for r in summary] == [
        ("sslkd", 3),
        ("supervised", 1),
        ("kd", 1),
    ]
    assert summary[0]["road_iou_mean"] == pytest.approx(0.8)
    assert summary[0]["road_iou_std"] == pytest.approx(0.1)  # sample std (ddof 1)
    assert summary[0]["recall_mean"] == pytest.approx(0.71)
    assert summary[0]["train_min"] == 7.5
    assert math.isnan(summary[2]["train_min"])  # not the time of a resumed run's last part
    rows[0]["train_min"] = math.nan
    assert summarise(rows)[0]["train_min"] == 8.0  # the seeds whose time is known
    table = (tmp_path / "table.md").read_text()
    assert "bench, made by `roadkd experiment --config x.yaml` at commit abc1234" in table
    assert "| SSLKD student | 1/8 | 3 | 12.5% | 0.800 | 0.100 | 0.800 |" in table
    assert "| Supervised student | 1/8 | 1 | 12.5% | 0.712 | - | 0.800 |" in table
    assert "| DeepLabV3Plus/mobilenet_v2 | 4.38 | 0.123 | 7.5 |" in table
    with (tmp_path / "table.csv").open() as handle:
        table_rows = list(csv.DictReader(handle))
    assert list(table_rows[0]) == COLUMNS and len(table_rows) == 3
    assert float(table_rows[0]["road_iou_std"]) == pytest.approx(0.1)
    assert table_rows[1]["road_iou_std"] == "nan" and table_rows[1]["n_seeds"] == "1"
    with (tmp_path / "runs.csv").open() as handle:
        run_rows = list(csv.DictReader(handle))
    assert list(run_rows[0]) == RUN_COLUMNS and len(run_rows) == 5
    assert run_rows[3]["road_iou"] == "0.71234"
    plot_iou(summary, tmp_path / "iou.png", references=[])
    assert (tmp_path / "iou.png").read_bytes()[:4] == b"\x89PNG"


def test_differences_are_judged_against_the_seeds_spread_unpaired_and_paired(
    tmp_path: Path,
) -> None:
    rows = [_row("supervised", seed, iou) for seed, iou in enumerate([0.1, 0.2, 0.3])]
    rows += [_row("sslkd", seed, iou) for seed, iou in enumerate([0.15, 0.27, 0.33])]
    rows += [_row("sslkd_without_feature", seed, iou) for seed, iou in enumerate([0.25, 0.2])]
    rows.append(_row("kd", 0, 0.4))
    rows.append({**_row("mean_teacher", 0, 0.4), "ratio": 1.0})  # no supervised at 1
    about = dict.fromkeys(("benchmark", "command", "commit", "date", "machine", "torch"), "x")
    compared = differences(rows)
    assert [(c["method"], c["against"]) for c in compared] == [
        ("sslkd", "supervised"),
        ("sslkd_without_feature", "sslkd"),
        ("kd", "supervised"),
    ]
    sslkd, ablation, kd = compared
    # unpaired: +0.05 against sqrt(0.01/3 + s^2/3) is within the spread ...
    assert sslkd["difference"] == pytest.approx(0.05)
    assert sslkd["se"] == pytest.approx(
        math.sqrt(0.01 / 3 + np.var([0.15, 0.27, 0.33], ddof=1) / 3)
    )
    assert sslkd["beyond_spread"] is False
    # ... paired by seed (+0.05, +0.07, +0.03) it is beyond it: the seeds move both alike
    assert sslkd["n_pairs"] == 3 and sslkd["signs"] == "+ + +"
    assert sslkd["paired_difference"] == pytest.approx(0.05)
    assert sslkd["paired_se"] == pytest.approx(0.02 / math.sqrt(3))
    assert sslkd["beyond_paired_spread"] is True
    # the ablation ran two seeds: paired with SSLKD's first two
    assert ablation["n_pairs"] == 2 and ablation["signs"] == "+ -"
    assert ablation["paired_difference"] == pytest.approx((0.10 - 0.07) / 2)
    assert math.isnan(kd["se"]) and kd["beyond_spread"] is None  # one seed: no verdict
    assert math.isnan(kd["paired_se"]) and kd["beyond_paired_spread"] is None
    write_table(rows, tmp_path, about)
    table = (tmp_path / "table.md").read_text()
    assert (
        "| Supervised student | +0.050 | 0.078 | no | 3 | +0.050 | 0.012 | yes | + + + |" in table
    )
    assert "| Supervised student | +0.200 | - | - | 1 | +0.300 | - | - | + |" in table
    assert (tmp_path / "differences.csv").read_text().splitlines()[0].split(",") == (
        DIFFERENCE_COLUMNS
    )


def test_every_table_carries_the_trivial_maps(tmp_path: Path) -> None:
    trivial = trivial_rows(road=25, background=75)
    road, background = trivial
    assert road["road_iou_mean"] == pytest.approx(0.25)  # the road share
    assert road["f1_mean"] == pytest.approx(0.4) and road["recall_mean"] == 1.0
    assert road["accuracy_mean"] == pytest.approx(0.25)
    assert background["road_iou_mean"] == 0.0 and background["accuracy_mean"] == 0.75
    assert background["miou_mean"] == pytest.approx(0.375)
    rows = [_row("supervised", 0, 0.5), {**_row("supervised", 0, 0.6), "ratio": 1.0}]
    about = dict.fromkeys(("benchmark", "command", "commit", "date", "machine", "torch"), "x")
    summary = write_table(rows, tmp_path, about, trivial=trivial)
    assert [(r["method"], r["ratio"]) for r in summary] == [
        ("all_road", 0.125),
        ("all_background", 0.125),
        ("supervised", 0.125),
        ("all_road", 1.0),
        ("all_background", 1.0),
        ("supervised", 1.0),
    ]
    table = (tmp_path / "table.md").read_text()
    assert "| All road (trivial) | 1/8 | 1 | - | 0.250 | - | 0.400 |" in table
    assert "| All background (trivial) | 1 | 1 | - | 0.000 |" in table
    plot_iou(summary, tmp_path / "iou.png", references=[])
    assert (tmp_path / "iou.png").read_bytes()[:4] == b"\x89PNG"


def test_premise_sets_teachers_against_the_best_student_sized_baseline() -> None:
    rows = [
        _row("teachers", 0, 0.6),
        _row("teachers_labeled_only", 0, 0.5),
        _row("mean_teacher", 0, 0.45),
        _row("cps", 0, 0.52),
        _row("teachers", 1, 0.4),
    ]
    pseudo = [
        {
            "ratio": 0.125,
            "seed": 0,
            "where": "unlabelled train",
            "rule": "argmax",
            "road_precision": 0.6,
            "road_recall": 0.9,
        },
        {
            "ratio": 0.125,
            "seed": 0,
            "where": "unlabelled train",
            "rule": "threshold 0.9 (SSLKD)",
            "road_precision": 0.8,
            "road_recall": 0.4,
        },
        {
            "ratio": 0.125,
            "seed": 0,
            "where": "val",
            "rule": "threshold 0.9 (SSLKD)",
            "road_precision": 0.1,
            "road_recall": 0.1,
        },
    ]
    first, second = premise(rows, pseudo)
    assert first["best_student_ssl"] == "cps" and first["margin"] == pytest.approx(0.08)
    assert first["labels_only_teacher_a"] == 0.5
    assert (first["road_precision"], first["road_recall"]) == (0.8, 0.4)
    assert second["best_student_ssl"] == "" and math.isnan(second["margin"])


def test_write_table_of_the_teachers_alone_states_their_premise(tmp_path: Path) -> None:
    # The benchmark's first step trains the teachers before any student: no differences yet
    pseudo = {
        "ratio": 0.125,
        "seed": 0,
        "where": "unlabelled train",
        "rule": "argmax (SSLKD)",
        **{score: 0.5 for score in PSEUDO_COLUMNS[4:]},
        "road_precision": 0.9,
        "road_recall": 0.3,
    }
    about = {k: "x" for k in ("benchmark", "command", "commit", "date", "machine", "torch")}
    write_table([_row("teachers", 0, 0.33)], tmp_path, about, [pseudo])
    assert not (tmp_path / "differences.csv").exists()
    table = (tmp_path / "table.md").read_text()
    assert "| 1/8 | 0 | 0.330 | - | - | - | - | 0.900 | 0.300 |" in table


def test_methods_can_be_restricted_to_some_ratios(tmp_path: Path) -> None:
    experiment = Experiment.from_yaml(
        _experiment_file(
            tmp_path,
            ratios=[0.125, 1.0],
            methods=["supervised", "sslkd_without_unsup"],
            references=[],
            method_ratios={"sslkd_without_unsup": [0.125]},
        )
    )
    assert experiment.methods_at(0.125) == ["supervised", "sslkd_without_unsup"]
    assert experiment.methods_at(1.0) == ["supervised"]
    assert experiment.needed_teachers == ["teachers"]  # the ablation learns from them


@pytest.mark.parametrize(
    ("method", "weight"),
    [("feature", "feature_weight"), ("prob", "prob_weight"), ("unsup", "unsup_weight")],
)
@pytest.mark.parametrize("folder", [BENCH, BENCH.parent / "roadnet"])
def test_each_ablation_is_sslkd_with_one_weight_at_zero(
    method: str, weight: str, folder: Path
) -> None:
    sslkd = yaml.safe_load((folder / "sslkd.yaml").read_text())
    ablation = yaml.safe_load((folder / f"sslkd_without_{method}.yaml").read_text())
    assert ablation["model"]["init_args"].pop(weight) == 0
    assert sslkd["model"]["init_args"].pop(weight, 1.0) == 1.0  # the paper's weight
    assert ablation["trainer"].pop("default_root_dir") != sslkd["trainer"].pop("default_root_dir")
    assert ablation == sslkd  # nothing else differs


def test_the_bench_runs_five_seeds_and_its_ablations_at_one_eighth() -> None:
    experiment = Experiment.from_yaml(BENCH / "experiment.yaml")
    assert experiment.seeds_for(0.125) == [0, 1, 2, 3, 4]
    assert experiment.seeds_for(1.0) == [0, 1, 2]
    assert experiment.references == ["teachers", "teachers_labeled_only"]
    ablations = [m for m in experiment.methods if m.startswith("sslkd_without_")]
    assert len(ablations) == 3
    assert [m for m in experiment.methods_at(0.125) if m in ablations] == ablations
    assert not [m for m in experiment.methods_at(1.0) if m in ablations]


def test_every_training_runs_with_the_experiments_thread_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment = Experiment.from_yaml(_experiment_file(tmp_path, out=str(tmp_path), threads=1))
    seen: list[dict[str, str]] = []

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append(kwargs["env"])
        run = run_dir(experiment, "supervised", 0.5, 0)
        run.best.parent.mkdir(parents=True)
        run.best.write_bytes(b"")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(runner.subprocess, "run", fake_run)
    _train(experiment, "supervised", 0.5, 0, lambda _: None)
    assert [env[THREADS_ENV] for env in seen] == ["1"]
    with pytest.raises(RoadkdError, match="threads must be a positive integer"):
        Experiment.from_yaml(_experiment_file(tmp_path, threads=0))


def test_existing_synthetic_data_must_match_the_experiments_synth(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_synthetic_dataset(data, scenes=3, size=128, val_scenes=1, test_scenes=1)
    before = (data / "splits.json").read_bytes()
    asked = {"scenes": 4, "size": 128, "val_scenes": 1, "test_scenes": 1}
    config = _experiment_file(tmp_path, data=str(data), synth=asked, out=str(tmp_path / "out"))
    with pytest.raises(RoadkdError, match=r"generated with .*'scenes': 3.*asks for .*'scenes': 4"):
        run_experiment(Experiment.from_yaml(config), log=lambda message: None)
    assert (data / "splits.json").read_bytes() == before  # the folder is left as it was
    assert not (tmp_path / "out").exists()  # refused before any training

    # the same settings, spelled with defaults left out, are the same data
    same = {"scenes": 3, "size": 128, "val_scenes": 1, "test_scenes": 1, "seed": 0}
    assert synthetic_settings(**same) == json.loads(before)["generator"]
