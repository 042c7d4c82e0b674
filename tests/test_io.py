"""Outputs written all or none: atomic outputs, output plans, the sweep of killed runs."""

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from roadkd.errors import RoadkdError
from roadkd.io import (
    PARTIAL_PREFIX,
    REPLACED_FOLDER,
    OutputPlan,
    atomic_output,
    remove_stale,
    require_file,
)


def test_atomic_output_renames_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with atomic_output(target) as tmp:
        assert tmp.suffix == ".txt" and tmp.parent == tmp_path
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_output_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with pytest.raises(ValueError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise ValueError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_missing_folder(tmp_path: Path) -> None:
    with (
        pytest.raises(RoadkdError, match="does not exist"),
        atomic_output(tmp_path / "no" / "x.tif"),
    ):
        pass


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``chattr +i`` (root cannot replace the file either); skip where it is unavailable."""
    try:
        marked = subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
    except FileNotFoundError:
        marked = False
    if not marked:
        pytest.skip("chattr +i is not available here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def old_outputs(folder: Path) -> dict[str, str]:
    """Existing outputs: a JSON file, a Shapefile with sidecars, a GeoTIFF."""
    files = {"a.json": "old a", "roads.shp": "old shp", "roads.dbf": "old dbf"}
    files |= {"roads.qix": "old index", "p.tif": "old p"}
    for name, text in files.items():
        (folder / name).write_text(text)
    return files


def write_new(plan: OutputPlan, folder: Path) -> None:
    for name in ("a.json", "roads.shp", "p.tif"):
        plan.add(folder / name, f"--{name}")
    for name in ("a.json", "roads.shp", "p.tif"):
        staged = plan.stage(folder / name)
        staged.write_text(f"new {name}")
    plan.stage(folder / "roads.shp").with_suffix(".dbf").write_text("new dbf")


def contents(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.iterdir()}


def test_a_plan_replaces_every_output_with_its_sidecars(tmp_path: Path) -> None:
    old_outputs(tmp_path)
    plan = OutputPlan()
    with plan:
        write_new(plan, tmp_path)
    # the stale .qix of the old Shapefile goes: it would index the old geometry
    assert contents(tmp_path) == {
        "a.json": "new a.json",
        "roads.shp": "new roads.shp",
        "roads.dbf": "new dbf",
        "p.tif": "new p.tif",
    }


def test_an_output_that_became_a_folder_changes_no_output(tmp_path: Path) -> None:
    old = old_outputs(tmp_path)
    plan = OutputPlan()
    with pytest.raises(RoadkdError, match=r"p\.tif is a folder; give a file name"), plan:
        write_new(plan, tmp_path)
        (tmp_path / "p.tif").unlink()
        (tmp_path / "p.tif").mkdir()  # after planning, before the outputs are moved
    (tmp_path / "p.tif").rmdir()
    assert contents(tmp_path) == {k: v for k, v in old.items() if k != "p.tif"}


def test_an_immutable_output_changes_no_output(tmp_path: Path) -> None:
    old = old_outputs(tmp_path)
    plan = OutputPlan()
    with immutable(tmp_path / "p.tif"):
        with pytest.raises(RoadkdError, match=r"cannot replace --p.tif .*p.tif: .* immutable"):
            with plan:
                write_new(plan, tmp_path)
                subprocess.run(["chattr", "+i", str(tmp_path / "p.tif")], check=True)
        assert contents(tmp_path) == old
    with pytest.raises(RoadkdError, match="immutable"), immutable(tmp_path / "a.json"):
        OutputPlan().add(tmp_path / "a.json", "--out")  # refused before any work
    with pytest.raises(RoadkdError, match="immutable"), immutable(tmp_path / "a.json"):
        with atomic_output(tmp_path / "a.json"):
            pass


def test_a_rename_failing_midway_puts_back_what_was_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A failure no check can foresee (a file system refusing one rename), injected on the
    # last output: the first ones are in place by then and must be taken back.
    old = old_outputs(tmp_path)
    rename = os.rename

    def refuse_last(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        if Path(target) == tmp_path / "p.tif" and REPLACED_FOLDER not in str(source):
            raise PermissionError(1, "Operation not permitted")
        rename(source, target)

    monkeypatch.setattr("roadkd.io.os.rename", refuse_last)
    plan = OutputPlan()
    with pytest.raises(RoadkdError, match=r"cannot replace --p\.tif .*: Operation not permitted"):
        with plan:
            write_new(plan, tmp_path)
    assert contents(tmp_path) == old


def test_the_sweep_puts_back_what_a_killed_commit_set_aside(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])  # a process id no longer in use
    gone.wait()
    aside = tmp_path / f"{PARTIAL_PREFIX}{gone.pid}-x" / REPLACED_FOLDER
    aside.mkdir(parents=True)
    (aside / "roads.gpkg").write_text("old, set aside")  # its new file never arrived
    (aside / "a.json").write_text("old a")  # its new file did
    (tmp_path / "a.json").write_text("new a")
    remove_stale(tmp_path, PARTIAL_PREFIX)
    assert contents(tmp_path) == {"roads.gpkg": "old, set aside", "a.json": "new a"}


def test_require_file(tmp_path: Path) -> None:
    with pytest.raises(RoadkdError, match="scene not found"):
        require_file(tmp_path / "missing.tif", "scene")
    with pytest.raises(RoadkdError, match="not a file"):
        require_file(tmp_path, "scene")


def test_gdal_defaults_never_override_the_user(monkeypatch: pytest.MonkeyPatch) -> None:
    from roadkd.io import GDAL_DEFAULTS, apply_gdal_defaults

    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    apply_gdal_defaults()
    assert os.environ["GDAL_CACHEMAX"] == GDAL_DEFAULTS["GDAL_CACHEMAX"]
    monkeypatch.setenv("GDAL_CACHEMAX", "2048")
    apply_gdal_defaults()
    assert os.environ["GDAL_CACHEMAX"] == "2048"
