"""Registers the roadkd Processing provider with QGIS."""

from qgis.core import QgsApplication

from .provider import RoadkdProvider


class RoadkdPlugin:
    """The plugin: a Processing provider, nothing in the GUI besides it."""

    def __init__(self, iface):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 (QGIS's name)
        """Called by QGIS (also headless qgis_process) to add the provider."""
        self.provider = RoadkdProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
