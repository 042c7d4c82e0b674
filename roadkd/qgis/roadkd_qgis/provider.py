"""The "roadkd" Processing provider and its setting: where the roadkd command is.

The setting appears under Settings > Options > Processing > Providers > roadkd. The
algorithms run the roadkd command as a program; they never import roadkd, so QGIS's own
Python needs none of roadkd's packages. Only the ``roadkd`` script itself has to be found:
putting a whole virtual environment's ``bin/`` on QGIS's PATH would also put that
environment's ``python3`` first, and QGIS's Python then fails to start.
"""

from processing.core.ProcessingConfig import ProcessingConfig, Setting
from qgis.core import QgsProcessingProvider

from .algorithm import DetectRoads
from .compare_algorithm import CompareRoads
from .data_algorithm import MakeTrainingData
from .run import SETTING
from .train_algorithm import TrainRoadModel


class RoadkdProvider(QgsProcessingProvider):
    """Processing provider "roadkd"."""

    def load(self):
        """Add the provider's setting to the Processing options, then the algorithms."""
        ProcessingConfig.settingIcons[self.name()] = self.icon()
        ProcessingConfig.addSetting(
            Setting(
                self.name(),
                SETTING,
                "roadkd executable (full path, e.g. /path/to/venv/bin/roadkd; "
                "empty: roadkd on QGIS's PATH)",
                "",
                valuetype=Setting.FILE,
            )
        )
        ProcessingConfig.readSettings()
        self.refreshAlgorithms()
        return True

    def unload(self):
        """Remove the setting (its saved value stays in the QGIS profile)."""
        ProcessingConfig.removeSetting(SETTING)

    def loadAlgorithms(self):  # noqa: N802 (QGIS's name)
        for algorithm in (DetectRoads(), CompareRoads(), MakeTrainingData(), TrainRoadModel()):
            self.addAlgorithm(algorithm)

    def id(self):
        return "roadkd"

    def name(self):
        return "roadkd"

    def longName(self):  # noqa: N802
        return "roadkd road detection"
