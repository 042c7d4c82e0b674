"""`roadkd evaluate` on a tiny dataset with a deterministic model."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from roadkd_cli.main import cli

from roadkd.models import DeployBundle, ModelConfig, build_model, save_bundle

SHALLOW = ModelConfig(
    arch="Unet", encoder="resnet18", kwargs={"encoder_depth": 1, "decoder_channels": (8,)}
)


@pytest.mark.slow
def test_evaluate_writes_table_and_json(
    road_dataset: Path, tmp_path: Path, save_all_road_model: Callable[..., Path]
) -> None:
    # a model that calls every pixel road: recall 1, precision = road share
    path = save_all_road_model(tmp_path / "all_road.pt")
    out = tmp_path / "metrics.json"
    args = [
        "evaluate",
        "--model",
        str(path),
        "--data",
        str(road_dataset),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--progress",
        "json",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "overall" in result.output and "APLS" in result.output
    # the scenes scored are counted on stderr
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [(e["stage"], e["done"], e["total"]) for e in events] == [
        ("evaluate", 0, 1),
        ("evaluate", 1, 1),
    ]
    doc = json.loads(out.read_text())
    assert doc["split"] == "test" and list(doc["scenes"]) == ["scene_002"]
    overall = doc["overall"]
    assert overall["recall"] == 1.0
    assert 0 < overall["precision"] < 1
    assert overall["road_iou"] == pytest.approx(overall["precision"])
    assert 0.0 <= overall["apls"] <= 1.0


def test_evaluate_bad_split(road_dataset: Path, tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    save_bundle(DeployBundle(model=build_model(SHALLOW), config=SHALLOW), path)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(path), "--data", str(empty)])
    assert result.exit_code == 1 and "splits.json not found" in result.output
