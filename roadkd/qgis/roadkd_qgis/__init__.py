"""QGIS plugin entry point (runs inside QGIS's own Python; imports no roadkd or torch)."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    """Return the plugin instance QGIS asks for."""
    from .plugin import RoadkdPlugin

    return RoadkdPlugin(iface)
