"""The "roadkd" Processing provider and its setting: where the roadkd command is."""

import shutil

from qgis.core import QgsProcessingProvider, QgsSettings

from .algorithm import DetectRoads
from .compare_algorithm import CompareRoads

SETTING = "roadkd/executable"


def roadkd_executable():
    """The roadkd command: the provider setting, else ``roadkd`` on PATH."""
    configured = QgsSettings().value(SETTING, "", type=str)
    return configured or shutil.which("roadkd") or "roadkd"


class RoadkdProvider(QgsProcessingProvider):
    """Processing provider "roadkd"."""

    def loadAlgorithms(self):  # noqa: N802 (QGIS's name)
        self.addAlgorithm(DetectRoads())
        self.addAlgorithm(CompareRoads())

    def id(self):
        return "roadkd"

    def name(self):
        return "roadkd"

    def longName(self):  # noqa: N802
        return "roadkd road detection"
