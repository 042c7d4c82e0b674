"""Output layers as an analyst meets them: named after their source, styled, lines on top.

QGIS 3.22 loads an algorithm's output layers one after another, each on top of the layer
tree, in an order the algorithm cannot choose. Each layer's post-processor styles it and,
once both road layers of a run are in the project, moves the road surface right under the
centrelines, so that the translucent surfaces never hide the lines.
"""

import os

from qgis.core import (
    QgsProcessingLayerPostProcessorInterface,
    QgsProject,
    QgsVectorLayer,
    QgsWkbTypes,
)

#: Custom layer property naming what a layer roadkd loaded is: "lines", "surface" (Detect
#: roads), "missed", "false" (Compare road layers).
ROLE = "roadkd/role"

HERE = os.path.dirname(__file__)
#: Centrelines coloured by confidence; road surfaces as a translucent fill.
LINE_STYLE = os.path.join(HERE, "roads.qml")
SURFACE_STYLE = os.path.join(HERE, "surface.qml")


class RoadLayersOfRun:
    """The centreline and surface layers of one run, as QGIS loads them."""

    def __init__(self):
        self.lines = None  # layer ids, once loaded
        self.surface = None

    def loaded(self, role, layer, project):
        """Note that ``layer`` (``"lines"`` or ``"surface"``) is in ``project``; reorder."""
        setattr(self, role, layer.id())
        if self.lines is None or self.surface is None:
            return
        root = project.layerTreeRoot()
        lines, surface = root.findLayer(self.lines), root.findLayer(self.surface)
        if lines is None or surface is None:
            return
        parent = lines.parent()
        below_lines = parent.children().index(lines) + 1
        if surface.parent() is parent and parent.children().index(surface) >= below_lines:
            return  # already under the lines
        parent.insertChildNode(below_lines, surface.clone())
        surface.parent().removeChildNode(surface)


class StyleOnLoad(QgsProcessingLayerPostProcessorInterface):
    """Styles a road layer once QGIS has loaded it, and keeps its run's lines on top."""

    #: QGIS holds post-processors by a weak reference only: those of the last runs (each
    #: used once, as its run's layers load) are kept here.
    kept = []
    KEEP = 16

    def __init__(self, style, role, run):
        super().__init__()
        self.style, self.role, self.run = style, role, run

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS's name)
        layer.setCustomProperty(ROLE, self.role)
        layer.loadNamedStyle(self.style)
        layer.triggerRepaint()
        self.run.loaded(self.role, layer, context.project() or QgsProject.instance())


def load_road_layer(context, output, name, role, run):
    """Have ``output`` loaded (if QGIS loads it) as ``name``, styled for its ``role``.

    Args:
        context: the algorithm's context.
        output: the output's path, as the algorithm wrote it.
        name: the layer's name in the project (kept whatever the user's preference for
            file names as layer names: a file called roads.gpkg says less).
        role: ``"lines"`` or ``"surface"``.
        run: the :class:`RoadLayersOfRun` the run's layers share.
    """
    if not context.willLoadLayerOnCompletion(output):
        return
    details = context.layerToLoadOnCompletionDetails(output)
    details.name = name
    details.forceName = True
    style = LINE_STYLE if role == "lines" else SURFACE_STYLE
    processor = StyleOnLoad(style, role, run)
    StyleOnLoad.kept = [*StyleOnLoad.kept[-StyleOnLoad.KEEP + 1 :], processor]
    details.setPostProcessor(processor)


def _line_layers_top_down(project):
    """The project's line layers, from the top of the layer tree down."""
    layers = [node.layer() for node in project.layerTreeRoot().findLayers()]
    return [
        layer
        for layer in layers
        if isinstance(layer, QgsVectorLayer) and layer.geometryType() == QgsWkbTypes.LineGeometry
    ]


def compare_defaults(project):
    """Layer ids to offer as (truth, detected) roads, so that the two differ (None: none).

    Detected: the topmost layer that Detect roads loaded, else the topmost with roadkd's
    ``confidence`` and ``min_confidence`` fields. Truth: the topmost other line layer.
    Compare's own error layers are neither.
    """
    candidates = [
        layer
        for layer in _line_layers_top_down(project)
        if layer.customProperty(ROLE) not in ("missed", "false")
    ]
    detected = [layer for layer in candidates if layer.customProperty(ROLE) == "lines"]
    detected = detected or [
        layer
        for layer in candidates
        if {"confidence", "min_confidence"} <= set(layer.fields().names())
    ]
    pred = detected[0] if detected else None
    truth = next((layer for layer in candidates if layer not in detected), None)
    return (truth.id() if truth else None), (pred.id() if pred else None)
