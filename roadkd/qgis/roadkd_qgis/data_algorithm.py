"""The "Make training data from a road layer" algorithm: runs ``roadkd data from-vectors``."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
)

from .compare_algorithm import FORMATS
from .progress import Meter
from .run import advanced, command_parameter, roadkd_command, run_roadkd, show_progress


class MakeTrainingData(QgsProcessingAlgorithm):
    """Cut imagery and a road layer into a roadkd training data set."""

    SCENES, ROADS, WIDTH_FIELD, DEFAULT_WIDTH = "SCENES", "ROADS", "WIDTH_FIELD", "DEFAULT_WIDTH"
    LABELLED_AREA, KEEP_PATHS, UNCERTAIN = "LABELLED_AREA", "KEEP_PATHS", "UNCERTAIN"
    VAL, TEST, BLOCK_SIZE, RESOLUTION = "VAL", "TEST", "BLOCK_SIZE", "RESOLUTION"
    OUTPUT = "OUTPUT"

    def name(self):
        return "maketrainingdata"

    def displayName(self):  # noqa: N802 (QGIS's name)
        return "Make training data from a road layer"

    def shortHelpString(self):  # noqa: N802
        return (
            "Turns your aerial images and a road centreline layer you already have (OSM, a "
            "municipal layer, lines you digitised; any CRS) into training data for "
            "'Train a road model' (roadkd data from-vectors). Roads are buffered by their "
            "width (the width field in metres, else OSM lanes/highway tags, else the "
            "default width) into road surface labels, with an ignore band along every "
            "edge. The images are cut into blocks: blocks inside the labelled area carry "
            "labels (training, validation and test blocks), blocks outside it are the "
            "unlabelled imagery semi-supervised training learns from. Draw the labelled "
            "area where your road layer is complete: a road missing from the layer there "
            "is taught as background. Cancel stops roadkd and leaves no folder behind."
        )

    def createInstance(self):  # noqa: N802
        return MakeTrainingData()

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(
            QgsProcessingParameterMultipleLayers(
                self.SCENES, "Aerial images", QgsProcessing.TypeRaster
            )
        )
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.ROADS, "Road centrelines", [QgsProcessing.TypeVectorLine]
            )
        )
        self.addParameter(
            QgsProcessingParameterField(
                self.WIDTH_FIELD, "Road width field, in metres (empty: OSM tags, else the "
                "default width)", parentLayerParameterName=self.ROADS,
                type=QgsProcessingParameterField.Numeric, optional=True,
            )
        )
        self.addParameter(self._metres(self.DEFAULT_WIDTH, "Default road width (m)", 6.0, 0.1))
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.LABELLED_AREA,
                "Area where the road layer is complete (empty: the road layer's extent)",
                [QgsProcessing.TypeVectorPolygon], optional=True,
            )
        )
        advanced_parameters = [
            QgsProcessingParameterBoolean(
                self.KEEP_PATHS, "Keep footways, cycleways and other paths", defaultValue=False
            ),
            self._metres(self.UNCERTAIN, "Ignore band on each side of a road edge (m)", 1.0, 0),
            self._share(self.VAL, "Share of labelled blocks for validation"),
            self._share(self.TEST, "Share of labelled blocks for testing"),
            QgsProcessingParameterNumber(
                self.BLOCK_SIZE, "Block side (px; at least twice the training patch)",
                defaultValue=1024, minValue=32,
            ),
            QgsProcessingParameterNumber(
                self.RESOLUTION, "Resolution of the training images (m/px; empty: the images' "
                "own)", QgsProcessingParameterNumber.Double, optional=True, minValue=0.01,
            ),
        ]
        for parameter in advanced_parameters:
            self.addParameter(advanced(parameter))
        self.addParameter(command_parameter())
        self.addParameter(
            QgsProcessingParameterFolderDestination(self.OUTPUT, "Training data folder")
        )

    @staticmethod
    def _metres(name, title, default, minimum):
        parameter = QgsProcessingParameterNumber(
            name, title, QgsProcessingParameterNumber.Double, defaultValue=default,
            minValue=minimum,
        )
        parameter.setMetadata({"widget_wrapper": {"decimals": 2}})
        return parameter

    @staticmethod
    def _share(name, title):
        parameter = QgsProcessingParameterNumber(
            name, title, QgsProcessingParameterNumber.Double, defaultValue=0.1, minValue=0.0,
            maxValue=0.9,
        )
        parameter.setMetadata({"widget_wrapper": {"decimals": 2}})
        return parameter

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        scenes = self.parameterAsLayerList(parameters, self.SCENES, context)
        if not scenes:
            raise QgsProcessingException("give at least one aerial image")
        out = self.parameterAsString(parameters, self.OUTPUT, context)
        roads, layer = self.parameterAsCompatibleSourceLayerPathAndLayerName(
            parameters, self.ROADS, context, FORMATS, "gpkg", feedback
        )
        command = [roadkd_command(self, parameters, context), "data", "from-vectors"]
        command += [scene.source() for scene in scenes]
        command += ["--roads", roads] + (["--roads-layer", layer] if layer else [])
        width_field = self.parameterAsFields(parameters, self.WIDTH_FIELD, context)
        if width_field:
            command += ["--width-field", width_field[0]]
        if parameters.get(self.LABELLED_AREA):
            area, area_layer = self.parameterAsCompatibleSourceLayerPathAndLayerName(
                parameters, self.LABELLED_AREA, context, FORMATS, "gpkg", feedback
            )
            command += ["--labelled-area", area]
            command += ["--labelled-area-layer", area_layer] if area_layer else []
        for name, option in (
            (self.DEFAULT_WIDTH, "--default-width-m"),
            (self.UNCERTAIN, "--uncertain-m"),
            (self.VAL, "--val"),
            (self.TEST, "--test"),
        ):
            command += [option, repr(self.parameterAsDouble(parameters, name, context))]
        command += ["--block-size", str(self.parameterAsInt(parameters, self.BLOCK_SIZE, context))]
        if parameters.get(self.RESOLUTION) not in (None, ""):
            resolution = self.parameterAsDouble(parameters, self.RESOLUTION, context)
            command += ["--resolution", repr(resolution)]
        if self.parameterAsBoolean(parameters, self.KEEP_PATHS, context):
            command.append("--keep-paths")
        command += ["--out", out, "--progress", "json"]
        meter = Meter([("from-vectors", 100)])
        run_roadkd(command, feedback, meter)
        show_progress(feedback, meter.finish())
        return {self.OUTPUT: out}
