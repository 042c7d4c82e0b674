"""What roadkd predict writes, planned before any work."""

from pathlib import Path

import pytest

from roadkd.errors import RoadkdError
from roadkd.io import OutputPlan
from roadkd.pipeline.outputs import block_file, check_block_folder


def test_a_folder_of_blocks_replaces_only_blocks(tmp_path: Path) -> None:
    folder = tmp_path / "scene_probability"
    folder.mkdir()
    (folder / block_file(0, 512)).write_bytes(b"")
    check_block_folder(folder)  # an earlier run's blocks may be replaced
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(RoadkdError, match=r"holds other files \(notes\.txt\)"):
        check_block_folder(folder)
    plan = OutputPlan()
    (folder / "notes.txt").unlink()
    target = plan.add(folder, "--prob", folder=True)
    with plan:
        staged = plan.stage(target)
        staged.mkdir()
        (staged / block_file(0, 0)).write_bytes(b"new")
    assert [p.name for p in folder.iterdir()] == [block_file(0, 0)]
    assert [p.name for p in tmp_path.iterdir()] == ["scene_probability"]
