"""Tests of `roadkd data synth` and `roadkd data roadnet`."""

import importlib.util
from pathlib import Path

from click.testing import CliRunner
from roadkd_cli.main import cli

from roadkd.datasets.layout import read_splits

FIXTURE = Path(__file__).parents[1] / "data" / "roadnet_release" / "data.py"


def _make_release(root: Path) -> Path:
    spec = importlib.util.spec_from_file_location("roadnet_release_fixture", FIXTURE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_release(root, scenes=20, size=16)


def test_synth(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    args = ["data", "synth", "--out", str(out), "--scenes", "3", "--size", "128"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "wrote 3 scenes" in result.output
    assert len(read_splits(out)["train"]) == 1
    # --no-styles: the same seed gives other scenes, all in the default look.
    plain = tmp_path / "plain"
    result = CliRunner().invoke(cli, [*args[:3], str(plain), *args[4:], "--no-styles"])
    assert result.exit_code == 0, result.output
    import numpy as np
    import rasterio

    from roadkd.datasets.synthetic import SceneStyle, generate_scene

    with rasterio.open(plain / "images" / "scene_000.tif") as src:
        written = src.read()
    default_look = generate_scene(128, np.random.default_rng([0, 0]), SceneStyle()).image
    np.testing.assert_array_equal(written, default_look)


def test_roadnet_prints_assigned_note(tmp_path: Path) -> None:
    release = _make_release(tmp_path / "release")
    out = tmp_path / "roadnet"
    result = CliRunner().invoke(cli, ["data", "roadnet", str(release), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "ASSIGNED" in result.output
    assert len(read_splits(out)["test"]) == 6


def test_bad_paths_give_one_clear_error(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["data", "roadnet", str(tmp_path / "nope"), "--out", "x"])
    assert result.exit_code == 1
    assert "Error: RoadNet release folder not found" in result.output
    assert "Traceback" not in result.output
    release = _make_release(tmp_path / "release")
    (release / "3" / "Ottawa-3.tif").unlink()
    result = runner.invoke(cli, ["data", "roadnet", str(release), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "Ottawa-3.tif" in result.output
    result = runner.invoke(cli, ["data", "synth", "--out", str(release), "--size", "128"])
    assert result.exit_code == 1 and "not empty" in result.output
