"""The experiment runner: end to end at toy scale (train, evaluate, resume, report) and
its small pieces (ratios, crop choice, error colours, config checks)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from roadkd_cli.main import cli

from roadkd.errors import RoadkdError
from roadkd.experiment import (
    COLUMNS,
    Experiment,
    RunDir,
    error_colours,
    pick_crops,
    ratio_label,
    run_dir,
    run_experiment,
    training_command,
    write_table,
)
from roadkd.experiment.runner import _score, _train

BENCH = Path(__file__).parents[1] / "configs" / "bench"
TOY = [
    "--trainer.max_epochs=1",
    "--trainer.max_steps=1",
    "--trainer.limit_val_batches=1",
    "--data.init_args.patch_size=64",
    "--data.init_args.length=4",
]


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
        methods=["supervised", "sslkd"],
        references=["teachers"],
        out=str(out),
    )
    command = ["experiment", "--config", str(config), "--ratio", "0.5", *TOY]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, result.output
    table = (out / "table.md").read_text()
    for label in ("Supervised student", "SSLKD student", "SSLKD teacher A (reference)"):
        assert f"| {label} | 1/2 |" in table
    assert f"roadkd experiment --config {config} --ratio 0.5 {' '.join(TOY)}" in table
    assert "| 1 |" not in table  # only the chosen ratio ran
    rows = (out / "table.csv").read_text().splitlines()
    assert rows[0].split(",") == COLUMNS
    assert len(rows) == 4
    assert json.loads((out / "provenance.json").read_text())["command"].startswith("roadkd")
    pseudo = (out / "pseudo_labels.csv").read_text().splitlines()
    assert pseudo[0].startswith("ratio,threshold,coverage,accuracy") and len(pseudo) == 2
    assert pseudo[1].startswith("0.5,0.9,")
    assert "| 1/2 | 0.900 |" in table
    assert (out / "iou_vs_ratio.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "examples.png").read_bytes()[:4] == b"\x89PNG"
    # The runs were launched through the library, never through the CLI package.
    trained = json.loads((out / "runs" / "supervised_r0.5" / "train.json").read_text())
    assert trained["command"][1:3] == ["-m", "roadkd.training"]


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
    run = run_dir(experiment, "supervised", 0.5)
    assert run.path == tmp_path / "results" / "runs" / "supervised_r0.5"
    row = {"method": "supervised", "ratio": 0.5, "road_iou": 0.5}
    _finished_run(run, row)
    logged: list[str] = []
    assert _score(experiment, "supervised", 0.5, logged.append) == row
    assert _train(experiment, "supervised", 0.5, logged.append) == run.best
    assert logged == []  # nothing was trained or evaluated


def test_an_interrupted_training_continues_from_its_last_checkpoint(tmp_path: Path) -> None:
    experiment = Experiment.from_yaml(
        _experiment_file(tmp_path, out=str(tmp_path / "results")),
        overrides=["--trainer.max_steps=3"],
    )
    teachers = run_dir(experiment, "teachers", 0.25)
    student = run_dir(experiment, "sslkd", 0.25)
    fresh = training_command(experiment, student, teachers.best)
    assert fresh[1:4] == ["-m", "roadkd.training", "fit"]
    assert "--ckpt_path" not in fresh
    assert fresh[-3:] == ["--model.init_args.teachers_checkpoint", str(teachers.best), fresh[-1]]
    assert fresh[-1] == "--trainer.max_steps=3"
    assert f"--data.init_args.labeled_ratio={0.25}" in fresh
    student.last.parent.mkdir(parents=True)
    student.last.write_bytes(b"")
    resumed = training_command(experiment, student, teachers.best)
    assert resumed == [*fresh, "--ckpt_path", str(student.last)]
    assert not student.is_trained


def test_experiment_config_errors(tmp_path: Path) -> None:
    with pytest.raises(RoadkdError, match="not found"):
        Experiment.from_yaml(tmp_path / "none.yaml")
    with pytest.raises(RoadkdError, match="unknown method 'magic'"):
        Experiment.from_yaml(_experiment_file(tmp_path, methods=["magic"]))
    with pytest.raises(RoadkdError, match=r"ratio 1.5 is not in \(0, 1\]"):
        Experiment.from_yaml(_experiment_file(tmp_path, ratios=[1.5]))
    with pytest.raises(RoadkdError, match="unknown keys \\['colour'\\]"):
        Experiment.from_yaml(_experiment_file(tmp_path, colour="red"))
    # sslkd needs the teachers run, whose config is missing here.
    configs = tmp_path / "configs"
    configs.mkdir()
    shutil.copy(BENCH / "sslkd.yaml", configs)
    with pytest.raises(RoadkdError, match="no training config for 'teachers'"):
        Experiment.from_yaml(
            _experiment_file(tmp_path, configs=str(configs), methods=["sslkd"], references=[])
        )


def test_command_line_choices_replace_the_file_and_are_recorded(tmp_path: Path) -> None:
    config = _experiment_file(tmp_path, ratios=[0.125, 0.25, 0.5], out="results/a")
    experiment = Experiment.from_yaml(
        config, ["--seed_everything=1"], [0.125], tmp_path / "seed1", ["supervised", "sslkd"]
    )
    assert experiment.ratios == [0.125] and experiment.out == str(tmp_path / "seed1")
    assert experiment.rows_methods == ["supervised", "sslkd", "teachers"]
    assert experiment.command == (
        f"roadkd experiment --config {config} --ratio 0.125 --method supervised "
        f"--method sslkd --out {tmp_path / 'seed1'} --seed_everything=1"
    )
    with pytest.raises(RoadkdError, match="unknown method 'magic'"):
        Experiment.from_yaml(config, methods=["magic"])
    spaced = Experiment.from_yaml(config, out=tmp_path / "my results")
    assert spaced.command.endswith(f"--out '{tmp_path / 'my results'}'")
    plain = Experiment.from_yaml(config)
    assert plain.out == "results/a" and plain.command == f"roadkd experiment --config {config}"


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


def test_write_table_rounds_labels_and_states_provenance(tmp_path: Path) -> None:
    row = {
        "method": "sslkd",
        "ratio": 0.125,
        "road_iou": 0.71234,
        "f1": 0.8,
        "precision": 0.9,
        "recall": 0.7,
        "miou": 0.85,
        "apls": 0.5,
        "model": "DeepLabV3Plus/mobilenet_v2",
        "params_m": 4.38,
        "cpu_mp_per_s": 0.123,
        "train_min": 6.5,
    }
    about = {
        "benchmark": "bench",
        "command": "roadkd experiment --config x.yaml",
        "commit": "abc1234",
        "date": "2026-11-25 10:00 UTC",
        "machine": "x86_64",
        "torch": "2",
    }
    write_table([row], tmp_path, about)
    table = (tmp_path / "table.md").read_text()
    assert "bench, made by `roadkd experiment --config x.yaml` at commit abc1234" in table
    assert "| SSLKD student | 1/8 | 0.712 | 0.800 |" in table
    assert "| DeepLabV3Plus/mobilenet_v2 | 4.38 | 0.123 | 6.5 |" in table
    assert "0.71234" in (tmp_path / "table.csv").read_text()
