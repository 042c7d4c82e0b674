"""Training runs: reproducible (the same seed and thread count, the same weights) and on DDP."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from roadkd.errors import RoadkdError
from roadkd.training import THREADS_ENV, set_thread_count

SUPERVISED = Path(__file__).parents[1] / "configs" / "bench" / "supervised.yaml"


def _launch(data: Path, root: Path, seed: int) -> subprocess.Popen[str]:
    """Start a few steps of the bench's supervised student, as the experiment runner does."""
    command = [
        sys.executable,
        "-m",
        "roadkd.training",
        "fit",
        "--config",
        str(SUPERVISED),
        "--data.init_args.root",
        str(data),
        "--data.init_args.labeled_ratio=1.0",
        "--data.init_args.patch_size=64",
        "--data.init_args.block_size=128",
        "--data.init_args.length=12",
        "--trainer.default_root_dir",
        str(root),
        f"--seed_everything={seed}",
        "--trainer.max_epochs=1",
        "--trainer.max_steps=3",
        "--trainer.limit_val_batches=2",
        "--trainer.enable_progress_bar=false",
    ]
    env = {**os.environ, THREADS_ENV: "1"}
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _weights(root: Path) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = torch.load(
        root / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False
    )["state_dict"]
    return state


def _metrics(root: Path) -> list[dict[str, str]]:
    (path,) = (root / "csv").glob("version_*/metrics.csv")
    with path.open() as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_same_seed_same_weights_other_seed_other_weights(
    road_dataset: Path, tmp_path: Path
) -> None:
    runs = {"first": 0, "again": 0, "other": 1}
    processes = {name: _launch(road_dataset, tmp_path / name, seed) for name, seed in runs.items()}
    for name, process in processes.items():
        output, _ = process.communicate(timeout=900)
        assert process.returncode == 0, f"{name}:\n{output}"
    first, again, other = (_weights(tmp_path / name) for name in runs)
    assert first.keys() == again.keys() == other.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)  # bit-identical
    assert _metrics(tmp_path / "first") == _metrics(tmp_path / "again")
    assert any(
        "val/road_iou" in row and row["val/road_iou"] for row in _metrics(tmp_path / "first")
    )
    trained = [k for k in first if first[k].is_floating_point() and "running" not in k]
    assert any(not torch.equal(first[k], other[k]) for k in trained)
    assert _metrics(tmp_path / "first") != _metrics(tmp_path / "other")


def test_thread_count_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv(THREADS_ENV, "1")
        assert set_thread_count() == 1 == torch.get_num_threads()
        monkeypatch.delenv(THREADS_ENV)
        assert set_thread_count() == 1  # unset: torch's count is left alone
        for wrong in ("0", "two", "-1"):
            monkeypatch.setenv(THREADS_ENV, wrong)
            with pytest.raises(RoadkdError, match=THREADS_ENV):
                set_thread_count()
    finally:
        torch.set_num_threads(before)


TESTS = Path(__file__).resolve().parent
# Full encoder depth: DDP rejects parameters left unused by a truncated encoder.
TINY = {"arch": "Unet", "encoder": "resnet18", "kwargs": {"decoder_channels": [16, 8, 8, 4, 4]}}


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path: Path) -> None:
    config = {
        "seed_everything": 0,
        "model": {
            "class_path": "roadkd.tasks.SupervisedStudent",
            "init_args": {"student": TINY, "optim": {"optimizer": "adamw", "lr": 0.001}},
        },
        "data": {"class_path": "tiny_data.TinyRoadDataModule"},
        "trainer": {
            "max_epochs": 1,
            "limit_train_batches": 2,
            "limit_val_batches": 1,
            "default_root_dir": str(tmp_path / "run"),
            "enable_progress_bar": False,
        },
    }
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "roadkd_cli.main", "train", "fit", "--config", str(path)]
    command += ["--trainer.strategy=ddp", "--trainer.devices=2", "--trainer.accelerator=cpu"]
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "best val/road_iou" in result.stdout
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    # each process saw 2 batches of its shard: 2 optimiser steps, weights kept in sync
    assert last["global_step"] == 2
    assert "roadkd_deploy" in last
