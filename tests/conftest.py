"""Shared pytest fixtures."""

import os

import pytest
import torch

# Keep the suite predictable on small CI machines.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def road_dataset(tmp_path_factory: pytest.TempPathFactory):
    """A tiny synthetic dataset (3 scenes of 256 px: one train, one val, one test)."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).parent / "data" / "roads" / "data.py"
    spec = importlib.util.spec_from_file_location("roads_fixture", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make(tmp_path_factory.mktemp("roads") / "data")


@pytest.fixture
def profile(tmp_path):
    """A temporary QGIS profile with the roadkd plugin installed and enabled."""
    from qgis_run import installed_profile

    return installed_profile(tmp_path / "profile")
