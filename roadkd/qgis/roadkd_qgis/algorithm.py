"""The "Detect roads" algorithm: runs ``roadkd predict`` and loads the road layers."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)

from .layers import RoadLayersOfRun, load_road_layer
from .progress import PREDICT_PLAN, Meter
from .run import advanced, command_parameter, roadkd_command, run_roadkd, show_progress

class DetectRoads(QgsProcessingAlgorithm):
    """Detect roads in a raster layer with a roadkd model."""

    INPUT, MODEL, TILE, OVERLAP, THRESHOLD = "INPUT", "MODEL", "TILE", "OVERLAP", "THRESHOLD"
    OUTPUT, SURFACE = "OUTPUT", "SURFACE"
    BANDS, SCALE_MIN, SCALE_MAX = "BANDS", "SCALE_MIN", "SCALE_MAX"
    NATIVE_RESOLUTION, BLOCK = "NATIVE_RESOLUTION", "BLOCK"

    def name(self):
        return "detectroads"

    def displayName(self):  # noqa: N802 (QGIS's name)
        return "Detect roads"

    def shortHelpString(self):  # noqa: N802
        return (
            "Runs a roadkd student (.ckpt, .safetensors or .onnx) over the raster with tiled, "
            "blended inference and writes road centrelines (length_m, width_m, confidence, "
            "min_confidence; styled by confidence) and, optionally, road surface polygons. "
            "Advanced: the bands to use, the pixel values mapped to 0 and 255 (by default "
            "16-bit and float rasters are stretched onto the model's training range) and "
            "keeping the raster's own resolution, and the vectorisation block (smaller: less "
            "memory on a large scene, the same roads); each reaches roadkd only when set. "
            "The centrelines are loaded above the surfaces (a translucent fill); the bar "
            "follows the tiles as roadkd predicts them, and Cancel stops roadkd and leaves "
            "no output behind."
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
        # How the raster's pixels reach the model; left empty, roadkd decides (and says how
        # in the log): R,G,B by colour interpretation, 16-bit and float stretched onto the
        # model's training range, resampled to the model's metres per pixel.
        pixels = [
            QgsProcessingParameterString(
                self.BANDS,
                "Bands, 1-based, e.g. 3,2,1 (empty: R,G,B by colour interpretation)",
                optional=True,
            ),
            QgsProcessingParameterNumber(
                self.SCALE_MIN,
                "Pixel value mapped to 0 (with the next; empty: stretched to the model)",
                QgsProcessingParameterNumber.Double,
                optional=True,
            ),
            QgsProcessingParameterNumber(
                self.SCALE_MAX,
                "Pixel value mapped to 255 (with the previous)",
                QgsProcessingParameterNumber.Double,
                optional=True,
            ),
            QgsProcessingParameterBoolean(
                self.NATIVE_RESOLUTION,
                "Keep the raster's own resolution (no resampling to the model's)",
                defaultValue=False,
            ),
        ]
        for parameter in pixels:
            self.addParameter(advanced(parameter))
        # Smaller blocks hold less of a large scene in memory at once (the result does not
        # depend on the block: blocks are stitched exactly).
        self.addParameter(
            advanced(
                QgsProcessingParameterNumber(
                    self.BLOCK, "Vectorisation block (px; empty: roadkd's default)",
                    minValue=256, optional=True,
                )
            )
        )
        self.addParameter(command_parameter())
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
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException("no input raster layer")
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        surface = self.parameterAsOutputLayer(parameters, self.SURFACE, context)
        command = [
            roadkd_command(self, parameters, context),
            "predict", layer.source(),
            "--model", self.parameterAsFile(parameters, self.MODEL, context),
            "--out", output,
            "--progress", "json",
        ]
        for name, option, read in (
            (self.TILE, "--tile", self.parameterAsInt),
            (self.OVERLAP, "--overlap", self.parameterAsInt),
            (self.THRESHOLD, "--threshold", self.parameterAsDouble),
            (self.BLOCK, "--block", self.parameterAsInt),
        ):
            if parameters.get(name) not in (None, ""):
                command += [option, str(read(parameters, name, context))]
        command += self._pixel_options(parameters, context)
        if surface:
            command += ["--polygons", surface]
        meter = Meter(PREDICT_PLAN)
        run_roadkd(command, feedback, meter)
        show_progress(feedback, meter.finish())
        run = RoadLayersOfRun()
        load_road_layer(context, output, f"{layer.name()}: roads", "lines", run)
        results = {self.OUTPUT: output}
        if surface:
            load_road_layer(context, surface, f"{layer.name()}: road surface", "surface", run)
            results[self.SURFACE] = surface
        return results

    def _pixel_options(self, parameters, context):
        """``--bands``, ``--scale`` and ``--native-resolution``, each only when set."""
        options = []
        bands = self.parameterAsString(parameters, self.BANDS, context).strip()
        if bands:
            options += ["--bands", bands]  # roadkd checks it
        scale = (self.SCALE_MIN, self.SCALE_MAX)
        given = [parameters.get(name) not in (None, "") for name in scale]
        if any(given) and not all(given):
            raise QgsProcessingException(
                "give both pixel values of the scale (mapped to 0 and to 255), or neither"
            )
        if all(given):
            low = self.parameterAsDouble(parameters, self.SCALE_MIN, context)
            high = self.parameterAsDouble(parameters, self.SCALE_MAX, context)
            options += ["--scale", repr(low), repr(high)]
        if self.parameterAsBoolean(parameters, self.NATIVE_RESOLUTION, context):
            options.append("--native-resolution")
        return options
