"""The "Detect roads" algorithm: runs ``roadkd predict`` and loads the road layers."""

import os

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)

from .run import run_roadkd

STYLE = os.path.join(os.path.dirname(__file__), "roads.qml")


class _ApplyRoadStyle(QgsProcessingLayerPostProcessorInterface):
    """Styles the centreline layer once QGIS has loaded it into the project."""

    instance = None

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS's name)
        layer.loadNamedStyle(STYLE)
        layer.triggerRepaint()

    @staticmethod
    def create():
        # QGIS keeps only a weak reference: hold one ourselves.
        _ApplyRoadStyle.instance = _ApplyRoadStyle()
        return _ApplyRoadStyle.instance


class DetectRoads(QgsProcessingAlgorithm):
    """Detect roads in a raster layer with a roadkd model."""

    INPUT, MODEL, TILE, OVERLAP, THRESHOLD = "INPUT", "MODEL", "TILE", "OVERLAP", "THRESHOLD"
    ROADKD, OUTPUT, SURFACE = "ROADKD", "OUTPUT", "SURFACE"

    def name(self):
        return "detectroads"

    def displayName(self):  # noqa: N802 (QGIS's name)
        return "Detect roads"

    def shortHelpString(self):  # noqa: N802
        return (
            "Runs a roadkd student (.ckpt, .safetensors or .onnx) over the raster with tiled, "
            "blended inference and writes road centrelines (length_m, width_m, confidence, "
            "min_confidence; styled by confidence) and, optionally, road surface polygons."
        )

    def createInstance(self):  # noqa: N802
        return DetectRoads()

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, "Aerial image (RGB)"))
        self.addParameter(QgsProcessingParameterFile(self.MODEL, "roadkd model (.ckpt, .safetensors or .onnx)"))
        # Left empty, roadkd's own defaults apply: the model's tile, an eighth of it as
        # overlap and the vectoriser's threshold (the plugin repeats none of them).
        self.addParameter(
            QgsProcessingParameterNumber(
                self.TILE, "Tile size (px; empty: the model's)", minValue=32, optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.OVERLAP, "Tile overlap (px; empty: an eighth of the tile)", minValue=0,
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.THRESHOLD, "Road probability threshold (empty: roadkd's default)",
                QgsProcessingParameterNumber.Double, minValue=0.0, maxValue=1.0, optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.ROADKD, "roadkd command (empty: provider setting or PATH)", optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterVectorDestination(
                self.OUTPUT, "Road centrelines", QgsProcessing.TypeVectorLine
            )
        )
        self.addParameter(
            QgsProcessingParameterVectorDestination(
                self.SURFACE, "Road surface", QgsProcessing.TypeVectorPolygon,
                optional=True, createByDefault=False,
            )
        )

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .provider import roadkd_executable

        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException("no input raster layer")
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        surface = self.parameterAsOutputLayer(parameters, self.SURFACE, context)
        command = [
            self.parameterAsString(parameters, self.ROADKD, context) or roadkd_executable(),
            "predict", layer.source(),
            "--model", self.parameterAsFile(parameters, self.MODEL, context),
            "--out", output,
            "--quiet",
        ]
        for name, option, read in (
            (self.TILE, "--tile", self.parameterAsInt),
            (self.OVERLAP, "--overlap", self.parameterAsInt),
            (self.THRESHOLD, "--threshold", self.parameterAsDouble),
        ):
            if parameters.get(name) not in (None, ""):
                command += [option, str(read(parameters, name, context))]
        if surface:
            command += ["--polygons", surface]
        feedback.setProgress(5)
        run_roadkd(command, feedback)
        feedback.setProgress(100)
        if context.willLoadLayerOnCompletion(output):
            details = context.layerToLoadOnCompletionDetails(output)
            details.setPostProcessor(_ApplyRoadStyle.create())
        results = {self.OUTPUT: output}
        if surface:
            results[self.SURFACE] = surface
        return results
