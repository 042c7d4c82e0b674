"""`roadkd train`: LightningCLI through click, every task, demo configs, resume, errors."""

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from click.testing import CliRunner
from roadkd_cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "arch": "Unet",
    "encoder": "resnet18",
    "kwargs": {"encoder_depth": 3, "decoder_channels": [16, 8, 4]},
}
TINY_B = {"arch": "Segformer", "encoder": "mit_b0", "kwargs": {"decoder_segmentation_channels": 16}}
OPT = {"optim": {"optimizer": "adamw", "lr": 0.001, "backbone_lr": None}}
QUIET = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]


def _config(tmp_path: Path, name: str, model: str, init_args: dict[str, Any]) -> Path:
    config = {
        "seed_everything": 0,
        "model": {"class_path": model, "init_args": {**OPT, **init_args}},
        "data": {"class_path": "tiny_data.TinyRoadDataModule"},
        "trainer": {
            "max_epochs": 1,
            "accelerator": "cpu",
            "limit_train_batches": 2,
            "limit_val_batches": 1,
            "default_root_dir": str(tmp_path / name),
        },
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _train(*args: str) -> Any:
    result = CliRunner().invoke(cli, ["train", *args, *QUIET], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def teachers_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("cli")
    config = _config(
        tmp,
        "teachers",
        "roadkd.tasks.CrossModelTeachers",
        {"teacher_a": TINY, "teacher_b": TINY_B, "warmup_steps": 1},
    )
    # no subcommand: fit; --progress json counts the steps in place of Lightning's bar
    result = _train("--config", str(config), "--progress", "json")
    assert "best val/road_iou" in result.output
    steps = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [(s["stage"], s["done"], s["total"]) for s in steps] == [
        ("train", 0, 2),
        ("train", 1, 2),
        ("train", 2, 2),
    ]
    return tmp / "teachers"


def test_run_folder_holds_checkpoints_and_logs(teachers_run: Path) -> None:
    assert (teachers_run / "checkpoints" / "best.ckpt").is_file()
    assert (teachers_run / "checkpoints" / "last.ckpt").is_file()
    assert list((teachers_run / "csv").glob("version_*/metrics.csv"))
    assert list((teachers_run / "tensorboard").glob("version_*/events.*"))
    # a checkpoint to resume from is also saved every few minutes, in a folder of its own
    (config,) = (teachers_run / "csv").glob("version_*/config.yaml")
    callbacks = yaml.safe_load(config.read_text())["trainer"]["callbacks"]
    between = [c["init_args"] for c in callbacks if "train_time_interval" in c["init_args"]]
    assert between == [
        {
            "dirpath": str(teachers_run / "checkpoints" / "resume"),
            "save_top_k": 0,
            "save_last": True,
            "train_time_interval": "0:10:00",
        }
    ]


@pytest.mark.parametrize(
    ("task", "init_args"),
    [
        ("SupervisedStudent", {"student": TINY}),
        ("MeanTeacherStudent", {"student": TINY}),
        ("CPSStudents", {"student": TINY}),
        ("SSLKDStudent", {"student": TINY, "threshold": 0.5}),
    ],
)
def test_every_task_fast_dev_run(
    task: str, init_args: dict[str, Any], teachers_run: Path, tmp_path: Path
) -> None:
    if task == "SSLKDStudent":
        init_args = {
            **init_args,
            "teachers_checkpoint": str(teachers_run / "checkpoints" / "last.ckpt"),
        }
    config = _config(tmp_path, task, f"roadkd.tasks.{task}", init_args)
    _train("fit", "--config", str(config), "--trainer.fast_dev_run=true")


def test_resume_continues_global_step(teachers_run: Path) -> None:
    config = teachers_run.parent / "teachers.yaml"
    last = teachers_run / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["global_step"] == 2
    _train("fit", "--config", str(config), "--trainer.max_epochs=2", "--ckpt_path", str(last))
    assert torch.load(last, weights_only=False)["global_step"] == 4


def test_validate_and_test_subcommands(teachers_run: Path) -> None:
    config = str(teachers_run.parent / "teachers.yaml")
    best = str(teachers_run / "checkpoints" / "best.ckpt")
    assert "val/road_iou" in _train("validate", "--config", config, "--ckpt_path", best).output
    assert "test/road_iou" in _train("test", "--config", config, "--ckpt_path", best).output


def test_missing_teachers_checkpoint_is_one_clear_error(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "s",
        "roadkd.tasks.SSLKDStudent",
        {"student": TINY, "teachers_checkpoint": str(tmp_path / "no.ckpt")},
    )
    result = CliRunner().invoke(cli, ["train", "fit", "--config", str(config)])
    assert result.exit_code == 1
    assert "Error: teachers checkpoint not found" in result.output


DEMO_CONFIGS = sorted((ROOT / "configs" / "demo").glob("*.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("config", DEMO_CONFIGS, ids=[c.stem for c in DEMO_CONFIGS])
def test_demo_configs_fast_dev_run(config: Path, teachers_run: Path, tmp_path: Path) -> None:
    pytest.importorskip("roadkd.datamodules.roads", reason="RoadDataModule not available")
    from roadkd.datasets.synthetic import write_synthetic_dataset

    data = tmp_path / "data"
    write_synthetic_dataset(data, scenes=4, size=128)
    args = ["fit", "--config", str(config), "--trainer.fast_dev_run=true"]
    args += [
        f"--data.init_args.root={data}",
        "--data.init_args.patch_size=64",
        "--data.init_args.num_workers=0",
    ]
    args += [f"--trainer.default_root_dir={tmp_path / 'run'}"]
    text = config.read_text()
    if "teachers_checkpoint" in text:
        args += [
            f"--model.init_args.teachers_checkpoint={teachers_run / 'checkpoints' / 'last.ckpt'}"
        ]
    for key in ("teacher_a", "teacher_b", "student"):
        if f"{key}:" in text:
            tiny = TINY_B if key == "teacher_b" else TINY
            args += [
                f"--model.init_args.{key}={yaml.safe_dump(tiny, default_flow_style=True).strip()}"
            ]
    _train(*args)


SHIPPED_CONFIGS = sorted(
    path
    for folder in ("bench", "roadnet")
    for path in (ROOT / "configs" / folder).glob("*.yaml")
    if path.name != "experiment.yaml"
)


@pytest.mark.parametrize(
    "config", SHIPPED_CONFIGS, ids=[f"{c.parent.name}/{c.stem}" for c in SHIPPED_CONFIGS]
)
def test_shipped_configs_parse(config: Path) -> None:
    # The paper-scale configs cannot train here; parsing catches a wrong key or class.
    task = yaml.safe_load(config.read_text())["model"]["class_path"]
    result = CliRunner().invoke(cli, ["train", "fit", "--config", str(config), "--print_config"])
    assert result.exit_code == 0, result.output
    assert f"class_path: {task}" in result.output
