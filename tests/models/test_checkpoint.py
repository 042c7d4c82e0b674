"""Opening a model never runs code from it.

Crafted checkpoints would create a marker file if anything in them ran: through a
``__reduce__`` calling ``os.system``, a custom class's ``__setstate__`` in the
hyper-parameters, or a tensor subclass's ``__setstate__`` in the weights. Otherwise they
are valid roadkd checkpoints (the clean twin of each loads), so the only reason to refuse
them is what they would execute. Every checkpoint roadkd itself writes still loads.
"""

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from affine import Affine
from click.testing import CliRunner
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from roadkd_cli.main import cli
from tiny_data import OPT, TinyRoadDataModule

from roadkd.datasets.layout import image_path, mask_path, write_geotiff
from roadkd.errors import RoadkdError
from roadkd.models import (
    DeployBundle,
    ModelConfig,
    build_model,
    load_bundle,
    load_frozen_teachers,
    read_checkpoint,
)
from roadkd.tasks import (
    CPSStudents,
    CrossModelTeachers,
    MeanTeacherStudent,
    SSLKDStudent,
    SupervisedStudent,
)

TINY = ModelConfig(
    arch="Unet", encoder="resnet18", kwargs={"encoder_depth": 1, "decoder_channels": [8]}
)
REFUSED = "holds objects roadkd will not execute"


class Reduced:
    """Unpickling this runs ``os.system``: the attack of the issue."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


class Planted:
    """A custom class whose unpickling (``__setstate__``) creates the marker."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __setstate__(self, state: dict[str, str]) -> None:
        Path(state["marker"]).touch()


class PlantedTensor(torch.Tensor):
    """A tensor subclass whose unpickling creates the marker."""

    marker = ""

    def __reduce_ex__(self, protocol: int) -> Any:
        reduced = list(super().__reduce_ex__(protocol))
        reduced[1] = (*reduced[1][:3], {"marker": self.marker})  # the subclass's state
        return tuple(reduced)

    def __setstate__(self, state: dict[str, str]) -> None:
        Path(state["marker"]).touch()


def _teachers_checkpoint() -> dict[str, Any]:
    """A valid teachers-stage checkpoint, the way a task writes it (no training needed)."""
    bundle = DeployBundle(model=build_model(TINY).eval(), config=TINY, tile_size=32)
    state = {
        f"{name}.{k}": v
        for name in ("teacher_a", "teacher_b")
        for k, v in bundle.state_dict().items()
    }
    return {
        "state_dict": state,
        "hyper_parameters": {"teacher_a": TINY.to_dict(), "teacher_b": TINY.to_dict()},
        "roadkd_deploy": bundle.to_checkpoint_entry(),
    }


def _plant(checkpoint: dict[str, Any], attack: str, marker: Path) -> dict[str, Any]:
    if attack == "reduce":
        checkpoint["hyper_parameters"]["note"] = Reduced(marker)
    elif attack == "custom_class":
        checkpoint["hyper_parameters"]["note"] = Planted(marker)
    else:
        weights = checkpoint["roadkd_deploy"]["state_dict"]
        key = next(iter(weights))
        planted = weights[key].as_subclass(PlantedTensor)
        planted.marker = str(marker)
        weights[key] = planted
        checkpoint["state_dict"][f"teacher_a.{key}"] = planted
    return checkpoint


ATTACKS = ["reduce", "custom_class", "tensor_subclass"]


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """attack -> (checkpoint, marker that must never exist); "clean" is the valid twin."""
    folder = tmp_path_factory.mktemp("crafted")
    torch.manual_seed(0)
    files = {}
    for attack in ["clean", *ATTACKS]:
        marker = folder / f"PWNED_{attack}"
        checkpoint = _teachers_checkpoint()
        if attack != "clean":
            checkpoint = _plant(checkpoint, attack, marker)
        path = folder / f"{attack}.ckpt"
        torch.save(checkpoint, path)
        files[attack] = (path, marker)
    return files


@pytest.fixture(scope="module")
def scene_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-scene dataset in roadkd's layout (the scene doubles as predict input)."""
    root = tmp_path_factory.mktemp("data")
    transform = Affine(0.21, 0, 445000.0, 0, -0.21, 5030000.0)
    pixels = (np.random.default_rng(0).random((3, 64, 64)) * 255).astype(np.uint8)
    for path, array in (
        (image_path(root, "scene_000"), pixels),
        (mask_path(root, "scene_000"), (pixels[0] > 128).astype(np.uint8)),
        (mask_path(root, "scene_000", "centerline"), (pixels[0] > 250).astype(np.uint8)),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_geotiff(path, array, transform, "EPSG:32618")
    (root / "splits.json").write_text(json.dumps({"test": ["scene_000"]}))
    return root


def _command(command: str, model: Path, data: Path, out: Path) -> list[str]:
    scene = str(image_path(data, "scene_000"))
    return {
        "predict": ["predict", scene, "--model", str(model), "--out", str(out), "--device", "cpu"],
        "evaluate": ["evaluate", "--model", str(model), "--data", str(data), "--out", str(out)],
        "export": ["export", "--model", str(model), "--out", str(out)],
    }[command]


OUTPUTS = {"predict": "roads.geojson", "evaluate": "metrics.json", "export": "model.onnx"}


@pytest.mark.parametrize("command", list(OUTPUTS))
def test_clean_twin_is_a_valid_model(
    command: str, crafted: dict[str, tuple[Path, Path]], scene_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / OUTPUTS[command]
    result = CliRunner().invoke(cli, _command(command, crafted["clean"][0], scene_data, out))
    assert result.exit_code == 0, result.output
    assert out.exists()


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("command", list(OUTPUTS))
def test_crafted_model_is_refused_and_nothing_runs(
    command: str,
    attack: str,
    crafted: dict[str, tuple[Path, Path]],
    scene_data: Path,
    tmp_path: Path,
) -> None:
    path, marker = crafted[attack]
    out = tmp_path / OUTPUTS[command]
    result = CliRunner().invoke(cli, _command(command, path, scene_data, out))
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and REFUSED in lines[0], lines
    assert not marker.exists()
    assert not out.exists() and list(tmp_path.iterdir()) == []


def _student_config(tmp_path: Path, teachers: Path) -> Path:
    config = {
        "seed_everything": 0,
        "model": {
            "class_path": "roadkd.tasks.SSLKDStudent",
            "init_args": {
                "optim": OPT["optim"].to_dict(),
                "student": TINY.to_dict(),
                "teachers_checkpoint": str(teachers),
            },
        },
        "data": {"class_path": "tiny_data.TinyRoadDataModule"},
        "trainer": {"accelerator": "cpu", "default_root_dir": str(tmp_path / "run")},
    }
    path = tmp_path / "student.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("attack", ATTACKS)
def test_crafted_teachers_checkpoint_is_refused(
    attack: str, crafted: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    path, marker = crafted[attack]
    config = _student_config(tmp_path, path)
    result = CliRunner().invoke(cli, ["train", "fit", "--config", str(config)])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and REFUSED in errors[0], result.output
    assert "Traceback" not in result.output
    assert not marker.exists()
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("attack", ATTACKS)
def test_crafted_resume_checkpoint_is_refused(
    attack: str, crafted: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    path, marker = crafted[attack]
    config = _student_config(tmp_path, crafted["clean"][0])
    result = CliRunner().invoke(
        cli, ["train", "fit", "--config", str(config), "--ckpt_path", str(path)]
    )
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and REFUSED in errors[0], result.output
    assert not marker.exists()
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_clean_teachers_checkpoint_builds_the_student(
    crafted: dict[str, tuple[Path, Path]],
) -> None:
    task = SSLKDStudent(teachers_checkpoint=str(crafted["clean"][0]), student=TINY, **OPT)
    assert len(task.teachers) == 2
    assert all(not p.requires_grad for p in task.teachers.parameters())


def test_corrupt_and_foreign_files(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"not a checkpoint" * 8)
    with pytest.raises(RoadkdError, match=r"cannot read teachers checkpoint .*not a PyTorch"):
        load_frozen_teachers(corrupt)
    torch.save([1, 2, 3], tmp_path / "list.ckpt")
    with pytest.raises(RoadkdError, match="not a roadkd model: it holds a list"):
        read_checkpoint(tmp_path / "list.ckpt")
    torch.save({"state_dict": {}}, tmp_path / "plain.ckpt")
    with pytest.raises(RoadkdError, match="not a teachers checkpoint"):
        load_frozen_teachers(tmp_path / "plain.ckpt")
    entry = DeployBundle(model=build_model(TINY), config=TINY).to_checkpoint_entry()
    torch.save({"roadkd_deploy": {**entry, "mean": [0.5]}}, tmp_path / "bad.ckpt")
    with pytest.raises(RoadkdError, match=r"malformed roadkd model .*one value per band"):
        load_bundle(tmp_path / "bad.ckpt")


def test_teachers_and_encoder_weights_that_do_not_fit(tmp_path: Path) -> None:
    checkpoint = _teachers_checkpoint()
    checkpoint["hyper_parameters"]["teacher_b"] = "resnet50"
    torch.save(checkpoint, tmp_path / "config.ckpt")
    with pytest.raises(RoadkdError, match="invalid model config 'resnet50'"):
        load_frozen_teachers(tmp_path / "config.ckpt")
    checkpoint = _teachers_checkpoint()
    checkpoint["state_dict"] = {
        k: v for k, v in checkpoint["state_dict"].items() if "decoder" not in k
    }
    torch.save(checkpoint, tmp_path / "weights.ckpt")
    with pytest.raises(RoadkdError, match=r"the teacher_a weights do not fit .*Missing key"):
        load_frozen_teachers(tmp_path / "weights.ckpt")
    encoder = build_model(TINY).encoder.state_dict()  # type: ignore[union-attr,operator]
    torch.save(encoder, tmp_path / "encoder.pt")
    loaded = build_model(ModelConfig(**{**TINY.to_dict(), "weights": str(tmp_path / "encoder.pt")}))
    torch.testing.assert_close(loaded.encoder.state_dict(), encoder)  # type: ignore[union-attr,operator]
    with pytest.raises(RoadkdError, match=r"encoder weights .* do not fit mobilenet_v2"):
        build_model(ModelConfig(weights=str(tmp_path / "encoder.pt")))
    torch.save({"state_dict": Planted(tmp_path / "PWNED")}, tmp_path / "planted.pt")
    with pytest.raises(RoadkdError, match=REFUSED):
        build_model(ModelConfig(**{**TINY.to_dict(), "weights": str(tmp_path / "planted.pt")}))
    assert not (tmp_path / "PWNED").exists()


# -- every checkpoint roadkd writes loads through the safe reader -------------------------


def _fit(task: Any, folder: Path) -> Path:
    """Train one step and save the checkpoint the way `roadkd train` does (with callbacks)."""
    trainer = Trainer(
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        accelerator="cpu",
        default_root_dir=folder,
        logger=False,
        callbacks=[ModelCheckpoint(folder, "best", monitor="val/road_iou", mode="max")],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(task, datamodule=TinyRoadDataModule())
    path = folder / "last.ckpt"
    trainer.save_checkpoint(path)
    return path


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One checkpoint of every task, built in Python (hyper-parameters hold ModelConfigs)."""
    folder = tmp_path_factory.mktemp("written")
    teachers = _fit(
        CrossModelTeachers(teacher_a=TINY, teacher_b=TINY, warmup_steps=0, **OPT),
        folder / "teachers",
    )
    paths = {"CrossModelTeachers": teachers}
    # A Path, not a str, for the teachers: a pathlib object in the hyper-parameters.
    paths["SSLKDStudent"] = _fit(
        SSLKDStudent(teachers_checkpoint=teachers, student=TINY, threshold=0.5, **OPT),  # type: ignore[arg-type]
        folder / "sslkd",
    )
    for task in (SupervisedStudent, MeanTeacherStudent, CPSStudents):  # SGD + poly, the default
        paths[task.__name__] = _fit(task(student=TINY), folder / task.__name__)
    return paths


@pytest.mark.parametrize(
    "task",
    [
        "CrossModelTeachers",
        "SSLKDStudent",
        "SupervisedStudent",
        "MeanTeacherStudent",
        "CPSStudents",
    ],
)
def test_every_checkpoint_roadkd_writes_loads(task: str, written: dict[str, Path]) -> None:
    checkpoint = read_checkpoint(written[task])
    assert checkpoint["global_step"] == 1
    bundle = load_bundle(written[task])
    assert bundle.extra["task"] == task and bundle.config == TINY
    assert bundle.model(torch.zeros(1, 3, 32, 32)).shape == (1, 2, 32, 32)
    best = read_checkpoint(written[task].parent / "best.ckpt")
    assert "roadkd_deploy" in best


def test_teachers_of_a_written_checkpoint(written: dict[str, Path]) -> None:
    (a, config_a), (b, config_b) = load_frozen_teachers(written["CrossModelTeachers"])
    assert config_a == config_b == TINY
    assert not a.training and not any(p.requires_grad for p in b.parameters())
    state = read_checkpoint(written["CrossModelTeachers"])["state_dict"]
    torch.testing.assert_close(
        a.state_dict(),
        {k.removeprefix("teacher_a."): v for k, v in state.items() if k.startswith("teacher_a.")},
    )


def test_a_checkpoint_from_before_model_config_moved_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ModelConfig was pickled as ``roadkd.models.factory.ModelConfig`` before it moved."""
    from roadkd.models import ModelConfig, read_checkpoint

    config = ModelConfig(arch="Unet", encoder="resnet18")
    path = tmp_path / "old.ckpt"
    with monkeypatch.context() as patched:
        patched.setattr(ModelConfig, "__module__", "roadkd.models.factory")
        torch.save({"hyper_parameters": {"model": config}}, path)
    assert b"roadkd.models.factory" in path.read_bytes()
    assert read_checkpoint(path)["hyper_parameters"]["model"] == config
