"""roadkd's dataset layout read by the TorchGeo datasets."""

from pathlib import Path

import pytest

from roadkd.errors import RoadkdError


@pytest.mark.parametrize(
    ("dataset", "what"), [("RoadImagery", "imagery"), ("RoadMask", "road labels")]
)
def test_layout_datasets_name_what_is_missing(tmp_path: Path, dataset: str, what: str) -> None:
    import roadkd.datasets

    with pytest.raises(RoadkdError, match=f"no {what} found in {tmp_path}"):
        getattr(roadkd.datasets, dataset)(tmp_path)
