"""Fixtures shared by every test package (tests/<package>/test_<module>.py mirrors roadkd/).

Helpers that tests import by name live beside this file (``tests`` is on the path):
``qgis_run`` (QGIS in a subprocess), ``dask_cluster`` (a local Dask cluster) and
``tiny_data`` (a datamodule that LightningCLI configs name by class path).
"""

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

# Keep the suite predictable on small CI machines: `make test` runs two pytest-xdist
# workers, each with one thread (threads beyond the cores wait for each other).
torch.set_num_threads(1 if "PYTEST_XDIST_WORKER" in os.environ else min(2, os.cpu_count() or 1))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Send every test of the Dask cluster to one xdist worker, which starts it once.

    The longest work goes first (the Dask tests, then those marked slow) so that the two
    workers finish together rather than one waiting for a long test the other began last.
    """
    for item in items:
        if _uses_cluster(item):
            item.add_marker(pytest.mark.xdist_group("dask"))
    items.sort(
        key=lambda item: 0 if _uses_cluster(item) else 1 if item.get_closest_marker("slow") else 2
    )


def _uses_cluster(item: pytest.Item) -> bool:
    return "cluster" in getattr(item, "fixturenames", ())


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def road_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic dataset (3 scenes of 256 px: one train, one val, one test)."""
    import importlib.util

    script = Path(__file__).parent / "data" / "roads" / "data.py"
    spec = importlib.util.spec_from_file_location("roads_fixture", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path: Path = module.make(tmp_path_factory.mktemp("roads") / "data")
    return path


@pytest.fixture(scope="session")
def installed_qgis_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A QGIS profile with the roadkd plugin installed and enabled, made once a session."""
    from qgis_run import installed_profile

    path: Path = installed_profile(tmp_path_factory.mktemp("qgis") / "profile")
    return path


@pytest.fixture
def profile(tmp_path: Path, installed_qgis_profile: Path) -> Path:
    """A copy of the installed QGIS profile for one test (a test may change its settings)."""
    import shutil

    return Path(shutil.copytree(installed_qgis_profile, tmp_path / "profile"))


# Plain functions behind the model fixtures below (tests written before the fixtures, on
# branches still open, import them from here; new tests take the fixtures).


def shallow_config() -> Any:
    """A shallow network: its small receptive field lets tiled and whole-scene passes agree."""
    from roadkd.models import ModelConfig

    return ModelConfig(
        arch="Unet", encoder="resnet18", kwargs={"encoder_depth": 1, "decoder_channels": (8,)}
    )


def save_all_road_model(path: Path, tile_size: int = 128) -> Path:
    """Save a tiny network that calls every (valid) pixel road with p = sigmoid(5)."""
    from roadkd.models import DeployBundle, build_model, save_bundle

    model = build_model(shallow_config()).eval()
    with torch.no_grad():
        model.segmentation_head[0].weight.zero_()
        model.segmentation_head[0].bias.copy_(torch.tensor([0.0, 5.0]))
    save_bundle(DeployBundle(model=model, config=shallow_config(), tile_size=tile_size), path)
    return path


@pytest.fixture(name="shallow_config", scope="session")
def _shallow_config() -> Any:
    """The shallow network's :class:`~roadkd.models.ModelConfig`."""
    return shallow_config()


@pytest.fixture(name="save_all_road_model", scope="session")
def _save_all_road_model() -> Callable[..., Path]:
    """``save(path, tile_size=128)``: write the all-road network there; returns ``path``."""
    return save_all_road_model


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained network (seed 0, 64 px tiles) saved as a deploy bundle."""
    from roadkd.models import DeployBundle, build_model, save_bundle

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "student.pt"
    config = shallow_config()
    save_bundle(DeployBundle(model=build_model(config).eval(), config=config, tile_size=64), path)
    return path


@pytest.fixture(scope="session")
def cluster() -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """The session's Dask cluster: a scheduler and two single-threaded workers."""
    pytest.importorskip("distributed")
    from dask_cluster import local_cluster

    with local_cluster() as running:
        yield running
