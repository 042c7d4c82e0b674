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


@pytest.fixture(scope="session")
def installed_qgis_profile(tmp_path_factory: pytest.TempPathFactory):
    """A QGIS profile with the roadkd plugin installed and enabled, made once a session."""
    from qgis_run import installed_profile

    return installed_profile(tmp_path_factory.mktemp("qgis") / "profile")


@pytest.fixture
def profile(tmp_path, installed_qgis_profile):
    """A copy of the installed QGIS profile for one test (a test may change its settings)."""
    import shutil

    return shutil.copytree(installed_qgis_profile, tmp_path / "profile")


def shallow_config():
    """A shallow network: its small receptive field lets tiled and whole-scene passes agree."""
    from roadkd.models import ModelConfig

    return ModelConfig(
        arch="Unet", encoder="resnet18", kwargs={"encoder_depth": 1, "decoder_channels": (8,)}
    )


def save_all_road_model(path, tile_size: int = 128):
    """Save a tiny network that calls every (valid) pixel road with p = sigmoid(5)."""
    from roadkd.models import DeployBundle, build_model, save_bundle

    model = build_model(shallow_config()).eval()
    with torch.no_grad():
        model.segmentation_head[0].weight.zero_()
        model.segmentation_head[0].bias.copy_(torch.tensor([0.0, 5.0]))
    save_bundle(DeployBundle(model=model, config=shallow_config(), tile_size=tile_size), path)
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory):
    """A tiny untrained network (seed 0, 64 px tiles) saved as a deploy bundle."""
    from roadkd.models import DeployBundle, build_model, save_bundle

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "student.pt"
    save_bundle(
        DeployBundle(
            model=build_model(shallow_config()).eval(), config=shallow_config(), tile_size=64
        ),
        path,
    )
    return path
