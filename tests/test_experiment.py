"""The experiment runner end to end at toy scale: train, evaluate, resume, report."""

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from roadkd_cli.main import cli

from roadkd.errors import RoadkdError
from roadkd.experiment import Experiment

TOY = [
    "--trainer.max_epochs=1",
    "--trainer.max_steps=1",
    "--trainer.limit_val_batches=1",
    "--data.init_args.patch_size=64",
    "--data.init_args.length=4",
]


@pytest.mark.slow
def test_experiment_runs_resumes_and_reports(road_dataset: Path, tmp_path: Path) -> None:
    config = tmp_path / "experiment.yaml"
    out = tmp_path / "results"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "toy",
                "data": str(road_dataset),
                "configs": str(Path(__file__).parents[1] / "configs" / "bench"),
                "ratios": [0.5],
                "methods": ["supervised", "sslkd"],
                "references": ["teachers"],
                "out": str(out),
            }
        )
    )
    result = CliRunner().invoke(cli, ["experiment", "--config", str(config), *TOY])
    assert result.exit_code == 0, result.output
    table = (out / "table.md").read_text()
    for method in ("supervised", "sslkd", "teachers"):
        assert f"| {method} | 0.5 |" in table
    assert (out / "table.csv").read_text().startswith("method,ratio,road_iou")
    assert (out / "iou_vs_ratio.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "examples.png").read_bytes()[:4] == b"\x89PNG"
    # A second run resumes: nothing is trained again.
    again = CliRunner().invoke(cli, ["experiment", "--config", str(config), *TOY])
    assert again.exit_code == 0 and "train " not in again.output


def test_experiment_config_errors(tmp_path: Path) -> None:
    with pytest.raises(RoadkdError, match="not found"):
        Experiment.from_yaml(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("methods: [magic]\n")
    with pytest.raises(RoadkdError, match="unknown method"):
        Experiment.from_yaml(bad)
