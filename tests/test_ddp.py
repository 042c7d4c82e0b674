"""Training runs unchanged on Lightning's DDP: two CPU processes (gloo) on this machine."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

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
        "data": {"class_path": "test_tasks.TinyRoadDataModule"},
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
